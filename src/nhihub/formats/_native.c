/*
 * nhihub.formats._native: the reader's fast path for one well-formed <REC>, in C.
 *
 * Why C: reading a record's fields through lxml's Python API costs one proxy object, one tag
 * string and one text string per field, about 280 ns each; that alone kept `nhihub check` from
 * its speed target (issue #3, docs/benchmarks.md). Here the libxml2 tree lxml has built is walked
 * directly and the dicts are built in one pass.
 *
 * The function only ever accepts the plainest shape of a record and answers None for anything
 * else; the caller then reads the record in Python (the exact walk names every problem). So this
 * file decides nothing about what is valid: it is a faster way to read what is certainly plain.
 *
 * Plain means: REC holds exactly two nodes, the elements <header> and <body>; <header> holds
 * only field elements; <body> holds only elements, the first <visit> and then <order> lines;
 * every field element holds exactly one text node, whose text is not empty once stripped; no
 * element has a namespace; no field repeats within its segment. Attributes are ignored, as the
 * Python reader ignores them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include <libxml/tree.h>

/* lxml's element proxy (struct LxmlElement of lxml's public header lxml.etree.h): the layout
 * has been the same since lxml 2; lxml is pinned, and the module checks the type it is given. */
typedef struct {
    PyObject_HEAD
    void *_doc;
    xmlNode *_c_node;
    PyObject *_tag;
} ElementProxy;

static PyTypeObject *element_type = NULL; /* lxml.etree._Element */

/* Tag names as Python strings, cached by libxml2's (dictionary-interned) name pointer. The
 * name is compared as well, so a pointer reused by another document is never misread. */
#define NAME_SLOTS 256
static struct {
    const xmlChar *ptr;
    PyObject *str;
} names[NAME_SLOTS];

static PyObject *
name_of(const xmlChar *name)
{
    size_t slot = ((uintptr_t)name >> 4) & (NAME_SLOTS - 1);
    if (names[slot].ptr == name && names[slot].str != NULL &&
        strcmp(PyUnicode_AsUTF8(names[slot].str), (const char *)name) == 0) {
        Py_INCREF(names[slot].str);
        return names[slot].str;
    }
    PyObject *str = PyUnicode_DecodeUTF8((const char *)name, (Py_ssize_t)strlen((const char *)name), NULL);
    if (str == NULL)
        return NULL;
    PyUnicode_InternInPlace(&str);
    Py_XDECREF(names[slot].str);
    Py_INCREF(str);
    names[slot].ptr = name;
    names[slot].str = str;
    return str;
}

static int
named(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns == NULL &&
           strcmp((const char *)node->name, name) == 0;
}

/* The stripped text of a field element; NULL with no exception when the element is not plain. */
static PyObject *
field_text(const xmlNode *field)
{
    const xmlNode *text = field->children;
    if (text == NULL || text->next != NULL || text->type != XML_TEXT_NODE || text->content == NULL)
        return NULL;
    const char *content = (const char *)text->content;
    PyObject *value = PyUnicode_DecodeUTF8(content, (Py_ssize_t)strlen(content), NULL);
    if (value == NULL)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    if (n == 0) {
        Py_DECREF(value);
        return NULL;
    }
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    if (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, 0)) ||
        Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, n - 1))) {
        /* Rare: leave the exact stripping (and the empty case) to str.strip itself. */
        PyObject *stripped = PyObject_CallMethod(value, "strip", NULL);
        Py_DECREF(value);
        if (stripped == NULL)
            return NULL;
        if (PyUnicode_GET_LENGTH(stripped) == 0) {
            Py_DECREF(stripped);
            return NULL;
        }
        return stripped;
    }
    return value;
}

/* The fields of one segment as a new dict; NULL (no exception set) when it is not plain. */
static PyObject *
segment(const xmlNode *seg)
{
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    for (const xmlNode *f = seg->children; f != NULL; f = f->next) {
        if (f->type != XML_ELEMENT_NODE || f->ns != NULL)
            goto not_plain;
        PyObject *value = field_text(f);
        if (value == NULL)
            goto not_plain;
        PyObject *key = name_of(f->name);
        if (key == NULL) {
            Py_DECREF(value);
            goto not_plain;
        }
        Py_ssize_t before = PyDict_GET_SIZE(out);
        int rc = PyDict_SetItem(out, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0 || PyDict_GET_SIZE(out) == before) /* error, or a repeated field */
            goto not_plain;
    }
    return out;
not_plain:
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(read_record_doc,
"read_record(rec, header, body, visit, order, /)\n--\n\n"
"(header fields, visit fields, [order line fields]) of the lxml element ``rec`` when it has the\n"
"plainest shape of a record (see the module source), else None. The four names are the tags of\n"
"the segments (MSH, MB, MB1, MB2).");

static PyObject *
read_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *tags[4];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "read_record takes 5 arguments");
        return NULL;
    }
    if (element_type == NULL || !PyObject_TypeCheck(args[0], element_type)) {
        PyErr_SetString(PyExc_TypeError, "read_record needs an lxml element");
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        tags[i] = PyUnicode_Check(args[i + 1]) ? PyUnicode_AsUTF8(args[i + 1]) : NULL;
        if (tags[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "segment names must be str");
            return NULL;
        }
    }
    const xmlNode *rec = ((ElementProxy *)args[0])->_c_node;
    if (rec == NULL)
        Py_RETURN_NONE;
    const xmlNode *msh = rec->children;
    if (msh == NULL || !named(msh, tags[0]))
        Py_RETURN_NONE;
    const xmlNode *mb = msh->next;
    if (mb == NULL || mb->next != NULL || !named(mb, tags[1]))
        Py_RETURN_NONE;
    const xmlNode *visit = mb->children;
    if (visit == NULL || !named(visit, tags[2]))
        Py_RETURN_NONE;
    for (const xmlNode *line = visit->next; line != NULL; line = line->next)
        if (!named(line, tags[3]))
            Py_RETURN_NONE;

    PyObject *header = NULL, *mb1 = NULL, *orders = NULL;
    header = segment(msh);
    if (header == NULL)
        goto not_plain;
    mb1 = segment(visit);
    if (mb1 == NULL)
        goto not_plain;
    orders = PyList_New(0);
    if (orders == NULL)
        goto not_plain;
    for (const xmlNode *line = visit->next; line != NULL; line = line->next) {
        PyObject *fields = segment(line);
        if (fields == NULL)
            goto not_plain;
        int rc = PyList_Append(orders, fields);
        Py_DECREF(fields);
        if (rc < 0)
            goto not_plain;
    }
    PyObject *result = PyTuple_Pack(3, header, mb1, orders);
    Py_DECREF(header);
    Py_DECREF(mb1);
    Py_DECREF(orders);
    return result;
not_plain:
    Py_XDECREF(header);
    Py_XDECREF(mb1);
    Py_XDECREF(orders);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read_record", (PyCFunction)(void (*)(void))read_record, METH_FASTCALL, read_record_doc},
    {NULL, NULL, 0, NULL},
};

static int
native_exec(PyObject *module)
{
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (etree == NULL)
        return -1;
    PyObject *type = PyObject_GetAttrString(etree, "_Element");
    Py_DECREF(etree);
    if (type == NULL)
        return -1;
    if (!PyType_Check(type)) {
        Py_DECREF(type);
        PyErr_SetString(PyExc_ImportError, "lxml.etree._Element is not a type");
        return -1;
    }
    element_type = (PyTypeObject *)type; /* kept for the life of the process */
    return PyModule_AddStringConstant(module, "LIBXML_HEADERS", LIBXML_DOTTED_VERSION);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, native_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "nhihub.formats._native",
    "The reader's fast path for one plain <REC>, in C (see nhihub.formats.records).",
    0,
    methods,
    slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModuleDef_Init(&module_def);
}
