/*
 * nhihub.formats._native: the reader's fast paths, in C: read_record takes one well-formed <REC>
 * from lxml's tree; scan_records (further down) takes a run of plain records from the bytes.
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

/* The dict of a segment's n fields (keys in order, their hash as segment computes it) when
 * ``complete``, else NULL; either way the references to the keys and values are released. NULL
 * with no exception set for a repeated field. */
static PyObject *
fields_dict(PyObject **keys, PyObject **values, Py_ssize_t n, uint64_t hash, int complete)
{
    PyObject *out = NULL;
    if (complete && !PyErr_Occurred()) {
        out = shape_dict(keys, n, hash);
        if (out == Py_None) /* a repeated field */
            Py_CLEAR(out);
        for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
            if (PyDict_SetItem(out, keys[i], values[i]) < 0)
                Py_CLEAR(out);
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(keys[i]);
        Py_DECREF(values[i]);
    }
    return out;
}

/* The fields of one segment as a new dict; NULL (no exception set) when it is not plain. */
static PyObject *
segment(const xmlNode *seg)
{
    PyObject *keys[MAX_FIELDS], *values[MAX_FIELDS];
    Py_ssize_t n = 0;
    uint64_t hash = 0xcbf29ce484222325ULL;
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
    return fields_dict(keys, values, n, hash, 1);
done:
    return fields_dict(keys, values, n, hash, 0);
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

/* ---- scan_records: plain records straight from the bytes ----------------------------------
 *
 * Why: reading a record through libxml2 and lxml (tokenising, building the tree, the pull
 * parser's events, removing finished records) costs several times what taking its fields takes
 * (issue #4: the ingest is CPU-bound on two cores, docs/benchmarks.md). A document made only of
 * plain records has a grammar simple enough to take from the bytes in one pass.
 *
 * Same rule as read_record: this code decides nothing. It accepts only the plainest form of a
 * whole run of records and answers None at the first thing outside it; the caller then reads the
 * document with the full reader. The form, on UTF-8 bytes, with ws = space, tab, LF or CR LF:
 *
 *   ( ws* <REC> ws* <MSH> field* ws* </MSH> ws* <MB> ws* <MB1> field* ws* </MB1>
 *     ( ws* <MB2> field* ws* </MB2> )* ws* </MB> ws* </REC> )* ws*
 *   field = ws* <NAME> text </NAME>
 *
 * NAME is [A-Za-z_][A-Za-z0-9_]* (so no namespace prefix); text holds no '<', no '&' (no
 * reference of any kind), no CR, no control character, no "]]>", no U+FFFE or U+FFFF, is valid
 * UTF-8 and is not empty once stripped. No tag has attributes or white space inside it; no
 * comment, processing instruction or CDATA section appears; no field repeats in its segment.
 * A lone CR anywhere is refused too (XML would count it as a line break). For such input an XML
 * parser gives exactly these elements and texts (blank text between elements is dropped by the
 * reader), which tests check against the full reader. */

#define SCAN_NAME_MAX 64
#define SCAN_NAME_SLOTS 256
static struct {
    Py_ssize_t len;
    char bytes[SCAN_NAME_MAX];
    PyObject *str;
} scan_names[SCAN_NAME_SLOTS];

/* The name as a Python string, cached by its bytes (interned as name_of does). */
static PyObject *
scan_name(const char *name, Py_ssize_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (Py_ssize_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
    size_t slot = (size_t)(h >> 56);
    if (scan_names[slot].str != NULL && scan_names[slot].len == len &&
        memcmp(scan_names[slot].bytes, name, (size_t)len) == 0)
        return Py_NewRef(scan_names[slot].str);
    PyObject *str = PyUnicode_FromStringAndSize(name, len);
    if (str == NULL)
        return NULL;
#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030D0000
    PyUnicode_InternInPlace(&str);
#endif
    Py_XSETREF(scan_names[slot].str, Py_NewRef(str));
    scan_names[slot].len = len;
    memcpy(scan_names[slot].bytes, name, (size_t)len);
    return str;
}

typedef struct {
    const char *p;   /* next byte */
    const char *end; /* end of the region */
    long line;       /* line of p */
} Scan;

/* Skip XML white space; 0 at a lone CR. */
static int
scan_ws(Scan *s)
{
    const char *p = s->p, *e = s->end;
    while (p < e) {
        char c = *p;
        if (c == ' ' || c == '\t')
            p++;
        else if (c == '\n') {
            s->line++;
            p++;
        }
        else if (c == '\r') {
            if (p + 1 >= e || p[1] != '\n')
                return 0;
            p++;
        }
        else
            break;
    }
    s->p = p;
    return 1;
}

/* Consume the exact tag "<name>" (close = 0) or "</name>" (close = 1); 0 when it is not there. */
static int
scan_tag(Scan *s, const char *name, Py_ssize_t len, int close)
{
    const char *p = s->p;
    Py_ssize_t need = len + 2 + close;
    if (s->end - p < need || p[0] != '<')
        return 0;
    p++;
    if (close) {
        if (*p != '/')
            return 0;
        p++;
    }
    if (memcmp(p, name, (size_t)len) != 0 || p[len] != '>')
        return 0;
    s->p = p + len + 1;
    return 1;
}

static int
name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int
name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* The text of a field, from s->p up to the next '<': its stripped value as a new string, NULL
 * with no exception when it is not plain. */
static PyObject *
scan_text(Scan *s)
{
    const unsigned char *p = (const unsigned char *)s->p, *e = (const unsigned char *)s->end;
    const unsigned char *start = p;
    int ascii = 1, cr = 0;
    long lines = 0;
    for (; p < e; p++) {
        unsigned char c = *p;
        if (c == '<')
            break;
        if (c < 0x20) {
            if (c == '\n')
                lines++;
            else if (c == '\r') {
                if (p + 1 >= e || p[1] != '\n')
                    return NULL; /* a lone CR */
                cr = 1;
            }
            else if (c != '\t')
                return NULL; /* a control character */
        }
        else if (c == '&')
            return NULL;
        else if (c == '>') {
            if (p - start >= 2 && p[-1] == ']' && p[-2] == ']')
                return NULL;
        }
        else if (c >= 0x80) {
            ascii = 0;
            /* U+FFFE and U+FFFF are not XML characters */
            if (c == 0xEF && e - p >= 3 && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
                return NULL;
        }
    }
    if (p >= e)
        return NULL;
    Py_ssize_t n = (Py_ssize_t)(p - start);
    PyObject *value;
    if (ascii) {
        value = PyUnicode_New(n, 127);
        if (value == NULL)
            return NULL;
        memcpy(PyUnicode_DATA(value), start, (size_t)n);
    }
    else {
        value = PyUnicode_DecodeUTF8((const char *)start, n, NULL);
        if (value == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
                PyErr_Clear(); /* not UTF-8: not plain */
            return NULL;
        }
    }
    s->p = (const char *)p;
    s->line += lines;
    if (n == 0) {
        Py_DECREF(value);
        return NULL;
    }
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    Py_ssize_t len = PyUnicode_GET_LENGTH(value);
    if (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, 0)) ||
        Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, len - 1))) {
        /* as field_text: the exact stripping (and the empty case) by str.strip itself */
        PyObject *stripped = PyObject_CallMethod(value, "strip", NULL);
        Py_DECREF(value);
        if (stripped == NULL)
            return NULL;
        value = stripped;
        len = PyUnicode_GET_LENGTH(value);
        if (len == 0) {
            Py_DECREF(value);
            return NULL;
        }
    }
    /* XML reads CR LF as LF: a value keeping one inside is left to the reader */
    if (cr && PyUnicode_FindChar(value, '\r', 0, len, 1) != -1) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

/* The fields of a segment up to and including "</seg>", as a new dict; NULL (no exception set)
 * when it is not plain. */
static PyObject *
scan_segment(Scan *s, const char *seg, Py_ssize_t seg_len)
{
    PyObject *keys[MAX_FIELDS], *values[MAX_FIELDS];
    Py_ssize_t n = 0;
    uint64_t hash = 0xcbf29ce484222325ULL;
    int closed = 0;
    for (;;) {
        if (!scan_ws(s))
            break;
        if (scan_tag(s, seg, seg_len, 1)) {
            closed = 1;
            break;
        }
        const char *p = s->p, *e = s->end;
        if (n == MAX_FIELDS || e - p < 2 || p[0] != '<' || !name_start(p[1]))
            break;
        const char *name = p + 1, *q = name;
        while (q < e && name_char(*q))
            q++;
        Py_ssize_t len = (Py_ssize_t)(q - name);
        if (q >= e || *q != '>' || len > SCAN_NAME_MAX)
            break;
        s->p = q + 1;
        PyObject *value = scan_text(s);
        if (value == NULL)
            break;
        if (!scan_tag(s, name, len, 1)) {
            Py_DECREF(value);
            break;
        }
        PyObject *key = scan_name(name, len);
        if (key == NULL) {
            Py_DECREF(value);
            break;
        }
        keys[n] = key;
        values[n] = value;
        n++;
        hash = (hash ^ (uint64_t)(uintptr_t)key) * 0x100000001b3ULL;
    }
    return fields_dict(keys, values, n, hash, closed);
}

/* One record from just after "<REC>": (line, header, visit fields, [order lines]) or NULL. */
static PyObject *
scan_record(Scan *s, long line, const char *const *tags, const Py_ssize_t *lens)
{
    PyObject *header = NULL, *mb1 = NULL, *orders = NULL, *result = NULL;
    if (!scan_ws(s) || !scan_tag(s, tags[1], lens[1], 0))
        return NULL;
    header = scan_segment(s, tags[1], lens[1]);
    if (header == NULL)
        goto done;
    if (!scan_ws(s) || !scan_tag(s, tags[2], lens[2], 0) || !scan_ws(s) ||
        !scan_tag(s, tags[3], lens[3], 0))
        goto done;
    mb1 = scan_segment(s, tags[3], lens[3]);
    if (mb1 == NULL)
        goto done;
    orders = PyList_New(0);
    if (orders == NULL)
        goto done;
    for (;;) {
        if (!scan_ws(s))
            goto done;
        if (scan_tag(s, tags[2], lens[2], 1))
            break;
        if (!scan_tag(s, tags[4], lens[4], 0))
            goto done;
        PyObject *fields = scan_segment(s, tags[4], lens[4]);
        if (fields == NULL)
            goto done;
        int rc = PyList_Append(orders, fields);
        Py_DECREF(fields);
        if (rc < 0)
            goto done;
    }
    if (!scan_ws(s) || !scan_tag(s, tags[0], lens[0], 1))
        goto done;
    result = Py_BuildValue("(lOOO)", line, header, mb1, orders);
done:
    Py_XDECREF(header);
    Py_XDECREF(mb1);
    Py_XDECREF(orders);
    return result;
}

PyDoc_STRVAR(scan_records_doc,
"scan_records(data, start, end, line, max_span, record, header, body, visit, order, /)\n--\n\n"
"The records of ``data[start:end]`` (UTF-8 bytes between the root's start and end tags, the\n"
"first on line ``line``) as a list of (line, header fields, visit fields, [order line\n"
"fields]) when the whole run has the plain form described in the module source and no record,\n"
"with the white space before it, and no white space after the last one spans more than\n"
"``max_span`` bytes; else None. The five names are the tags of the record and\n"
"its segments (REC, MSH, MB, MB1, MB2).");

static PyObject *
scan_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *tags[5];
    Py_ssize_t lens[5];
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "scan_records takes 10 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan_records needs bytes");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    long line = PyLong_AsLong(args[3]);
    Py_ssize_t max_span = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (start < 0 || end < start || end > size || max_span < 0) {
        PyErr_SetString(PyExc_ValueError, "scan_records: bad range");
        return NULL;
    }
    for (int i = 0; i < 5; i++) {
        tags[i] = PyUnicode_Check(args[i + 5]) ? PyUnicode_AsUTF8AndSize(args[i + 5], &lens[i]) : NULL;
        if (tags[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "tag names must be str");
            return NULL;
        }
    }
    const char *base = PyBytes_AS_STRING(args[0]);
    Scan s = {base + start, base + end, line};
    PyObject *records = PyList_New(0);
    if (records == NULL)
        return NULL;
    for (;;) {
        /* measured from the end of the previous record: the reader gives up on a long run of
         * bytes in which no record ends, white space included */
        const char *at = s.p;
        if (!scan_ws(&s))
            goto not_plain;
        if (s.p == s.end) {
            if (s.p - at > max_span)
                goto not_plain;
            return records;
        }
        long rec_line = s.line;
        if (!scan_tag(&s, tags[0], lens[0], 0))
            goto not_plain;
        PyObject *rec = scan_record(&s, rec_line, tags, lens);
        if (rec == NULL)
            goto not_plain;
        int rc = s.p - at > max_span ? 1 : PyList_Append(records, rec);
        Py_DECREF(rec);
        if (rc != 0)
            goto not_plain;
    }
not_plain:
    Py_DECREF(records);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read_record", (PyCFunction)(void (*)(void))read_record, METH_FASTCALL, read_record_doc},
    {"scan_records", (PyCFunction)(void (*)(void))scan_records, METH_FASTCALL, scan_records_doc},
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
#ifdef Py_mod_multiple_interpreters
    /* the caches above and the element type are per process */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "nhihub.formats._native",
    "The reader's fast paths, in C (see nhihub.formats.records and nhihub.formats.plain).",
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
