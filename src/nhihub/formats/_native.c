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
#include <stdint.h>
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
#define NAME_SLOTS 256 /* a power of two: the hash below takes the top 8 bits */
static struct {
    const xmlChar *ptr;
    PyObject *str;
} names[NAME_SLOTS];

static PyObject *
name_of(const xmlChar *name)
{
    /* Names lie a few bytes apart in libxml2's dictionary: hash the pointer's bits together
     * (Fibonacci hashing), or neighbouring names would share a slot. */
    size_t slot = (size_t)(((uint64_t)(uintptr_t)name * 0x9E3779B97F4A7C15ULL) >> 56);
    if (names[slot].ptr == name && names[slot].str != NULL) {
        const char *cached = PyUnicode_AsUTF8(names[slot].str);
        if (cached == NULL) /* no memory for its UTF-8 form */
            return NULL;
        if (strcmp(cached, (const char *)name) == 0)
            return Py_NewRef(names[slot].str);
    }
    PyObject *str = PyUnicode_DecodeUTF8((const char *)name, (Py_ssize_t)strlen((const char *)name), NULL);
    if (str == NULL)
        return NULL;
#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030D0000
    /* Interned, so that the dicts' keys are the very strings the checks look up. Not on 3.12,
     * where interned strings are never freed (CPython gh-113993): the names come from the file. */
    PyUnicode_InternInPlace(&str);
#endif
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

/* A Python string of libxml2's UTF-8 text. Field values are nearly always ASCII: those are
 * copied as they are, without the general decoder's per-character work. */
static PyObject *
text_of(const xmlChar *content)
{
    const unsigned char *p = content;
    while (*p != 0 && *p < 0x80)
        p++;
    Py_ssize_t n = (Py_ssize_t)(p - content);
    if (*p != 0)
        return PyUnicode_DecodeUTF8((const char *)content, n + (Py_ssize_t)strlen((const char *)p), NULL);
    PyObject *value = PyUnicode_New(n, 127);
    if (value != NULL)
        memcpy(PyUnicode_DATA(value), content, (size_t)n);
    return value;
}

/* The stripped text of a field element; NULL with no exception when the element is not plain. */
static PyObject *
field_text(const xmlNode *field)
{
    const xmlNode *text = field->children;
    if (text == NULL || text->next != NULL || text->type != XML_TEXT_NODE || text->content == NULL)
        return NULL;
    PyObject *value = text_of(text->content);
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

/* Segments met before, by their field names in order: a dict of those keys (values None) to
 * copy. Copying a dict of the right keys and setting the values costs a third of building it
 * key by key (each growth of the table rehashes it). */
#define MAX_FIELDS 128 /* a segment with more children is read by the Python reader */
#define SHAPE_SLOTS 64
static struct {
    PyObject *keys; /* tuple of the interned names, in order */
    PyObject *dict;
} shapes[SHAPE_SLOTS];

static PyObject *
shape_dict(PyObject *const *keys, Py_ssize_t n, uint64_t hash)
{
    size_t slot = (size_t)(hash >> 58); /* top 6 bits: SHAPE_SLOTS */
    PyObject *known = shapes[slot].keys;
    if (known != NULL && PyTuple_GET_SIZE(known) == n) {
        Py_ssize_t i = 0;
        while (i < n && PyTuple_GET_ITEM(known, i) == keys[i])
            i++;
        if (i == n) {
            /* The template is held while it is copied: the copy allocates, the allocation may
             * run the garbage collector, and a finalizer it runs (or a thread it lets run) may
             * read records of other shapes, replacing this slot and freeing its template. */
            PyObject *kept = Py_NewRef(shapes[slot].dict);
            PyObject *copy = PyDict_Copy(kept);
            Py_DECREF(kept);
            return copy;
        }
    }
    /* New here: build the dict of these keys and keep it for next time. */
    PyObject *dict = PyDict_New();
    PyObject *tuple = PyTuple_New(n);
    if (dict == NULL || tuple == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyDict_SetItem(dict, keys[i], Py_None) < 0)
            goto fail;
        Py_INCREF(keys[i]);
        PyTuple_SET_ITEM(tuple, i, keys[i]);
    }
    if (PyDict_GET_SIZE(dict) != n) { /* a repeated field: not plain, nothing kept */
        Py_DECREF(dict);
        Py_DECREF(tuple);
        return Py_NewRef(Py_None);
    }
    /* Copied before it is kept, for the same reason: once in the slot, it may go at any time. */
    PyObject *copy = PyDict_Copy(dict);
    if (copy == NULL)
        goto fail;
    Py_XSETREF(shapes[slot].keys, tuple);
    Py_XSETREF(shapes[slot].dict, dict);
    return copy;
fail:
    Py_XDECREF(dict);
    Py_XDECREF(tuple);
    return NULL;
}

/* The fields of one segment as a new dict; NULL (no exception set) when it is not plain. */
static PyObject *
segment(const xmlNode *seg)
{
    PyObject *keys[MAX_FIELDS], *values[MAX_FIELDS];
    Py_ssize_t n = 0;
    uint64_t hash = 0xcbf29ce484222325ULL;
    PyObject *out = NULL;
    for (const xmlNode *f = seg->children; f != NULL; f = f->next) {
        if (n == MAX_FIELDS || f->type != XML_ELEMENT_NODE || f->ns != NULL)
            goto done;
        PyObject *value = field_text(f);
        if (value == NULL)
            goto done;
        PyObject *key = name_of(f->name);
        if (key == NULL) {
            Py_DECREF(value);
            goto done;
        }
        keys[n] = key;
        values[n] = value;
        n++;
        hash = (hash ^ (uint64_t)(uintptr_t)key) * 0x100000001b3ULL;
    }
    out = shape_dict(keys, n, hash);
    if (out == Py_None) { /* a repeated field */
        Py_CLEAR(out);
        goto done;
    }
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        if (PyDict_SetItem(out, keys[i], values[i]) < 0)
            Py_CLEAR(out);
    }
done:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(keys[i]);
        Py_DECREF(values[i]);
    }
    return out;
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
    if (((PyTypeObject *)type)->tp_basicsize < (Py_ssize_t)sizeof(ElementProxy)) {
        /* not the element layout this file reads: the reader falls back to its Python path */
        Py_DECREF(type);
        PyErr_SetString(PyExc_ImportError, "lxml.etree._Element has an unexpected layout");
        return -1;
    }
    Py_XSETREF(element_type, (PyTypeObject *)type); /* kept for the life of the process */
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
