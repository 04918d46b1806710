"""From parsed ``<REC>`` elements to :class:`~nhihub.formats.model.Record` objects.

Three paths:

- the fast path takes a well-formed record (``MSH``, then ``MB`` holding ``MB1`` and ``MB2``
  lines, only known fields, no stray text) in one pass;
- the exact walk, used for anything else, names every structural problem as a finding;
- the release step, for a record still open after many bytes (thousands of MB2 lines, or junk),
  turns its finished parts into data and frees their elements, so that memory stays bounded.

Elements are only ever removed once the parser is past them and their tail is complete.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from lxml import etree

from nhihub.formats.model import FileError, Finding, Record
from nhihub.formats.spec import ReaderSpec
from nhihub.specs.fields import VERSIONS, fields, segment_ids

# libxml2 keeps element line numbers in 16 bits; beyond, lxml reports the line of the first text
# below the element. Lines of <REC> tags are then taken from the bytes themselves (RecLines).
LINE_CAP = 65535
_REC_START = re.compile(rb"<REC[ \t\r\n/>]")
_MAX_TAG = 40  # longest tag name repeated in a finding or a detail
# The shape of a record: its descendant nodes, its MSH, MB and MB1 elements, and its MB2 lines,
# as one number (each count in its own bits; a count too large to fit only makes the comparison
# fail, which falls back to the exact walk). The root's shape sums those of its children.
_NODES, _STRUCT = 1 << 26, 1 << 13
_SHAPE = etree.XPath(
    f"count(descendant::node()) * {_NODES}"
    f" + (count(MSH) + count(MB) + count(MB/MB1)) * {_STRUCT} + count(MB/MB2)"
)
_ROOT_SHAPE = etree.XPath(
    f"(count(descendant::node()) - count(text())) * {_NODES}"
    f" + (count(REC/MSH) + count(REC/MB) + count(REC/MB/MB1)) * {_STRUCT}"
    " + count(REC/MB/MB2)"
)


def _blank(text: str | None) -> bool:
    return text is None or text.isspace()


def _text_line(text: str, next_line: int) -> int:
    """First line of the non-blank ``text`` that ends where a tag on ``next_line`` starts."""
    core = text.strip()
    return next_line - text[len(text.rstrip()) :].count("\n") - core.count("\n")


def _shape(el: Any) -> int:
    return int(cast(float, _SHAPE(el)))


def native_reader() -> Callable[..., Any] | None:
    """``read_record`` of the compiled module, or None when it is not built or is turned off
    with ``NHIHUB_NATIVE=0`` (the Python path gives the same records, more slowly)."""
    if os.environ.get("NHIHUB_NATIVE", "1") == "0":
        return None
    try:
        from nhihub.formats import _native
    except ImportError:
        return None
    return cast(Callable[..., Any], _native.read_record)


class Fatal(Exception):
    """Reading must stop; ``error`` is the last item of the stream."""

    def __init__(self, error: FileError, *, drain: bool = False) -> None:
        super().__init__(error.detail)
        self.error = error
        self.drain = drain  # the parser holds completed records that come before the error


FileErrorSink = Callable[[str, int, str], None]


class _Collect:
    """What the exact walk has gathered of one record so far (a released record is gathered in
    several steps)."""

    __slots__ = (
        "body",
        "count",
        "known_version",
        "mb1",
        "orders",
        "problems",
        "rec",
        "version",
        "visit_seen",
    )

    def __init__(self, rec: Any, version: str, known_version: bool, body: Any) -> None:
        self.rec = rec
        self.version = version
        self.known_version = known_version
        self.body = body
        self.orders: list[dict[str, str]] = []
        self.count = 0
        self.problems: list[Finding] = []
        self.mb1: dict[str, str] = {}
        self.visit_seen = False


class RecLines:
    """Line numbers of ``<REC`` start tags in the bytes fed to the parser, for lines libxml2
    cannot store. Only kept from line 60,000 on."""

    _FROM = 60000
    _KEEP = 4  # bytes kept from the previous piece, so a tag cut in two is still found

    def __init__(self) -> None:
        self._lines: deque[int] = deque()
        self._carry = b""

    def note(self, data: bytes, line: int, end_line: int) -> None:
        """Record the ``<REC`` tags of ``data``, which spans ``line`` to ``end_line``."""
        carry = self._carry
        self._carry = data[-self._KEEP :]
        if end_line < self._FROM:
            return
        text = carry + data
        line -= carry.count(b"\n")
        pos = 0
        for m in _REC_START.finditer(text):
            if m.end() <= len(carry):
                continue  # found with the previous piece
            line += text.count(b"\n", pos, m.start())
            pos = m.start()
            self._lines.append(line)

    def take(self, approx: int) -> int:
        """The start line of the next record, given lxml's line ``approx`` (never smaller)."""
        found = approx
        lines = self._lines
        while lines and lines[0] <= approx:
            found = lines.popleft()
        return found


class PlainRules:
    """When the fields read from a record's elements make a plain record, which the fast paths
    take as they are (the exact walk would find no problem in it): the header's fields name the
    version, every field is one of that version's for its segment, no field without a width is
    longer than ``max_text``, and there are at most ``max_orders`` MB2 lines."""

    def __init__(self, spec: ReaderSpec, *, max_text: int, max_orders: int) -> None:
        lay = spec.layout
        self.max_text = max_text
        self.max_orders = max_orders
        self.ids = {
            v: (segment_ids(v, lay.header), segment_ids(v, lay.visit), segment_ids(v, lay.order))
            for v in VERSIONS
        }
        self.v20, self.v10 = (self.ids[v] for v in VERSIONS)
        # Fields with a width in the field table: a longer text is AC for the record checks, so
        # max_text only guards the others (memory per record is bounded by max_pending_bytes).
        self.sized = frozenset(f.id for v in VERSIONS for f in fields(v) if f.length is not None)
        self.sized_ids = {v: tuple(s & self.sized for s in self.ids[v]) for v in VERSIONS}

    def version(
        self, header: dict[str, str], mb1: dict[str, str], orders: list[dict[str, str]]
    ) -> tuple[str, int] | None:
        """(version, number of fields) of a plain record, else None."""
        keys = header.keys()
        if keys and keys <= self.v20[0]:
            version = VERSIONS[0]
        elif keys and keys <= self.v10[0]:
            version = VERSIONS[1]
        else:
            return None
        ids = self.ids[version]
        sized = self.sized_ids[version]
        if len(orders) > self.max_orders:
            return None
        # Every header field has a width, so the version test above has checked the header.
        if not mb1.keys() <= sized[1] and (not mb1.keys() <= ids[1] or self._long(mb1, sized[1])):
            return None
        fields = len(header) + len(mb1)
        allowed, short = ids[2], sized[2]
        for values in orders:
            if not values.keys() <= short and (
                not values.keys() <= allowed or self._long(values, short)
            ):
                return None
            fields += len(values)
        return version, fields

    def _long(self, values: dict[str, str], sized: frozenset[str]) -> bool:
        """Whether a field without a width in the field table is longer than max_text."""
        limit = self.max_text
        return any(len(v) > limit for k, v in values.items() if k not in sized)


class Assembler:
    """Keeps the state of one reading: the root, the record being collected, what to release."""

    def __init__(
        self,
        spec: ReaderSpec,
        info: Any,
        *,
        max_text: int,
        max_orders: int,
        file_error: FileErrorSink,
    ) -> None:
        lay = spec.layout
        self.spec = spec
        self.lay = lay
        self.codes = spec.codes
        self.info = info
        self.max_text = max_text
        self.max_orders = max_orders
        self.max_problems = spec.limits.max_problems
        self.file_error = file_error
        self.structural = lay.structural
        self.known = lay.structural | spec.field_names
        self.rules = PlainRules(spec, max_text=max_text, max_orders=max_orders)
        self.ids = self.rules.ids
        self.sized = self.rules.sized
        self.lines = RecLines()
        # The compiled fast path, unless unavailable or turned off (NHIHUB_NATIVE=0).
        self.native: Callable[..., Any] | None = native_reader()
        # Records since the last flush: (element, descendant nodes, provisional fast Record).
        self.done: list[tuple[Any, int, Record | None]] = []
        self.provisional = 0  # fast records not yet verified
        self.root: Any = None
        self.root_text_checked = False
        self.last_rec: Any = None
        self.open: _Collect | None = None  # the open record, partly released

    # -- helpers ---------------------------------------------------------------------------------

    def line(self, el: Any) -> int:
        """Approximate line of a non-record element (exact below line 65535)."""
        line: int = el.sourceline or 0
        return line

    def rec_line(self, rec: Any) -> int:
        """Line of a ``<REC>`` start tag; call once per record, in file order."""
        line: int = rec.sourceline or 0
        return self.lines.take(line) if line >= LINE_CAP else line

    def problem(self, problems: list[Finding], field: str | None, code: str) -> None:
        finding = Finding(field, code)
        if len(problems) < self.max_problems and finding not in problems:
            problems.append(finding)

    def see_root(self, root: Any) -> None:
        self.root = root

    def check_root_text(self) -> None:
        """Text before the first child of the root (complete once a record has ended); once."""
        root = self.root
        if self.root_text_checked or root is None:
            return
        self.root_text_checked = True
        if not _blank(root.text):
            first = root[0] if len(root) else None
            next_line = first.sourceline if first is not None else self.line(root)
            self._text_error(root.text, next_line)

    # -- the fast path ---------------------------------------------------------------------------

    def record(self, rec: Any) -> Record | None:
        """A REC ended. Returns its Record, or None when it is not a child of the root.

        A record read by the fast path is provisional until :meth:`verify`; finished records stay
        in the tree until :meth:`flush` drops them.
        """
        if rec.getparent() is not self.root:
            return None  # nested in something else: reported by the walk of the enclosing element
        prev = rec.getprevious()
        if prev is not self.last_rec or (prev is not None and prev.tail is not None):
            self._before(rec)
        record = None if self.open is not None and rec is self.open.rec else self._fast(rec)
        if record is None:
            record = self._exact(rec)
            self.done.append((rec, _shape(rec), None))
        self.last_rec = rec
        return record

    def verify(self) -> dict[int, Record]:
        """Prove the fast records since the last call well formed by taking the root's shape
        once; any that is not is read again by the exact walk. Returns replacements by id()."""
        done = self.done
        if self.provisional == 0:
            return {}
        self.provisional = 0
        expected = sum(_NODES + shape for _, shape, _ in done)
        nxt = self.last_rec.getnext()
        while nxt is not None:  # the record being parsed, strays not yet reported
            expected += _NODES + _shape(nxt)
            nxt = nxt.getnext()
        replaced: dict[int, Record] = {}
        if int(cast(float, _ROOT_SHAPE(self.root))) != expected:
            for i, (el, shape, fast) in enumerate(done):
                if fast is None:
                    continue
                actual = _shape(el)
                if actual != shape:
                    self.info.orders -= len(fast.mb2)
                    replaced[id(fast)] = self._exact(el, index=fast.index, line=fast.line)
                    done[i] = (el, actual, None)
        return replaced

    def flush(self) -> None:
        """Drop the finished records before the last one (whose tail may still grow)."""
        last = self.last_rec
        if last is None or last.getprevious() is None:
            return
        del self.root[: self.root.index(last)]
        self.done = [self.done[-1]] if self.done and self.done[-1][0] is last else []

    def _fast(self, rec: Any) -> Record | None:
        """The record if it looks well formed, else None (then the exact walk names the
        problems).

        With the compiled reader (:mod:`nhihub.formats._native`), a record is taken only when it
        has the plainest shape, which the C code checks in full: the record is then final. In
        Python, field texts are read in one comprehension per segment, taking the children of
        the REC and of its MB by position; the record is then provisional: :meth:`verify` later
        proves the element names (MSH, MB, MB1, MB2) and that there is no stray text, no element
        below a field and no repeated field, each of which changes the shape the dicts predict.
        """
        native = self.native
        if native is not None:
            lay = self.lay
            plain = native(rec, lay.header, lay.body, lay.visit, lay.order)
            if plain is None:
                return None
            header, mb1, orders = plain
        else:
            if len(rec) != 2:
                return None
            msh, mb = rec
            try:
                # Empty texts (white space only) are left out here; verify() then sees their
                # nodes and the exact walk takes over.
                header = {f.tag: t for f in msh if (t := f.text.strip())}
                visit, *lines = mb
                mb1 = {f.tag: t for f in visit if (t := f.text.strip())}
                orders = [{f.tag: t for f in line if (t := f.text.strip())} for line in lines]
            except (AttributeError, ValueError):  # an empty element or an empty MB
                return None
        plain = self.rules.version(header, mb1, orders)
        if plain is None:
            return None
        version, fields = plain
        info = self.info
        info.records += 1
        info.orders += len(orders)
        if info.version != version:
            if info.version is None:
                info.version = version
            else:
                info.mixed_versions = True
        record = Record(info.records, self.rec_line(rec), version, header, mb1, orders, [])
        # Elements MSH, MB, MB1 and the MB2 lines, plus one element and one text per field.
        lines_n = len(orders)
        shape = (3 + lines_n + 2 * fields) * _NODES + 3 * _STRUCT + lines_n
        if native is None:
            self.done.append((rec, shape, record))
            self.provisional += 1
        else:
            self.done.append((rec, shape, None))
        return record

    # -- the exact walk --------------------------------------------------------------------------

    def _collect(self, rec: Any) -> _Collect:
        """The exact walk's state for ``rec``: version from its MSH, body = its first MB."""
        if self.open is not None and self.open.rec is rec:
            return self.open
        lay = self.lay
        tags: set[str] = set()
        body = None
        header_seen = False
        for child in rec:
            tag = child.tag
            if tag == lay.header and not header_seen:
                header_seen = True
                tags = {f.tag for f in child}
            elif tag == lay.body:
                body = child
                break
        for version in VERSIONS:
            if tags & self.ids[version][0]:
                return _Collect(rec, version, True, body)
        return _Collect(rec, self.info.version or VERSIONS[0], False, body)

    def _find_body(self, col: _Collect) -> Any:
        """The record's first MB, which may have started after the collection began."""
        if col.body is None:
            for child in col.rec:
                if child.tag == self.lay.body:
                    col.body = child
                    break
        return col.body

    def _fields(
        self, seg: Any, allowed: frozenset[str], suffix: str, problems: list[Finding]
    ) -> dict[str, str]:
        """The fields of one segment (MSH, MB1 or one MB2), naming every problem."""
        codes = self.codes
        out: dict[str, str] = {}
        if seg.text is not None and not seg.text.isspace():
            self.problem(problems, seg.tag + suffix, codes["content"])
        for f in seg:
            tag = f.tag
            tail = f.tail
            if tail is not None and not tail.isspace():
                self.problem(problems, seg.tag + suffix, codes["content"])
            if tag in allowed:
                if len(f):
                    self.problem(problems, tag + suffix, codes["nesting"])
                    continue
                text = f.text
                if text is None:
                    continue
                text = text.strip()
                if not text:
                    continue
                if len(text) > self.max_text and tag not in self.sized:
                    self.problem(problems, tag + suffix, codes["too_long"])
                    text = text[: self.max_text]
                if tag in out:
                    self.problem(problems, tag + suffix, codes["unknown_tag"])
                    continue
                out[tag] = text
            elif isinstance(tag, str):
                code = codes["nesting"] if tag in self.structural else codes["unknown_tag"]
                self.problem(problems, tag[:_MAX_TAG] + suffix, code)
        return out

    def _misplaced(self, tag: Any, problems: list[Finding]) -> None:
        """An element where a segment was expected: Y005 for a known name, else Y004."""
        if isinstance(tag, str):
            code = self.codes["nesting"] if tag in self.known else self.codes["unknown_tag"]
            self.problem(problems, tag[:_MAX_TAG], code)

    def _text_after(self, col: _Collect, el: Any, where: str) -> None:
        if el.tail is not None and not el.tail.isspace():
            self.problem(col.problems, where, self.codes["content"])

    def _body_child(self, col: _Collect, child: Any) -> None:
        """One child of the record's MB: MB1, an MB2 line, or something misplaced."""
        lay = self.lay
        self._text_after(col, child, lay.body)
        tag = child.tag
        if tag == lay.order:
            n = col.count = col.count + 1
            fields = self._fields(child, self.ids[col.version][2], f"[{n}]", col.problems)
            if n <= self.max_orders:
                col.orders.append(fields)
            else:
                self.info.dropped_orders += 1
        elif tag == lay.visit and not col.visit_seen:
            col.visit_seen = True
            col.mb1 = self._fields(child, self.ids[col.version][1], "", col.problems)
        elif tag == lay.visit:
            self.problem(col.problems, tag, self.codes["nesting"])
        else:
            self._misplaced(tag, col.problems)

    def _record_child(self, col: _Collect, child: Any) -> None:
        """One child of the REC other than its first MSH and its body."""
        self._text_after(col, child, self.lay.record)
        tag = child.tag
        if tag == self.lay.header or tag == self.lay.body:
            self.problem(col.problems, tag, self.codes["nesting"])
        else:
            self._misplaced(tag, col.problems)

    def _exact(self, rec: Any, *, index: int | None = None, line: int | None = None) -> Record:
        """Read ``rec`` naming every structural problem."""
        lay = self.lay
        codes = self.codes
        col = self._collect(rec)
        if col is self.open:
            self.open = None
        problems = col.problems
        version = col.version
        if rec.text is not None and not rec.text.isspace():
            self.problem(problems, lay.record, codes["content"])
        msh = None
        body = self._find_body(col)
        for child in rec:
            if child is body:
                self._text_after(col, child, lay.record)
            elif msh is None and child.tag == lay.header:
                self._text_after(col, child, lay.record)
                msh = child
            else:
                self._record_child(col, child)
        if not col.known_version:
            self.problem(problems, lay.header, codes["header"])
        header = {} if msh is None else self._fields(msh, self.ids[version][0], "", problems)
        if body is None:
            self.problem(problems, lay.body, codes["nesting"])
        else:
            if body.text is not None and not body.text.isspace():
                self.problem(problems, lay.body, codes["content"])
            for child in body:
                self._body_child(col, child)
            if not col.visit_seen:
                self.problem(problems, lay.visit, codes["nesting"])
        info = self.info
        if index is None:
            info.records += 1
            index = info.records
        info.orders += col.count
        if info.version is None:
            info.version = version
        elif info.version != version:
            info.mixed_versions = True
        return Record(
            index,
            self.rec_line(rec) if line is None else line,
            version,
            header,
            col.mb1,
            col.orders,
            problems,
        )

    # -- what lies between records -----------------------------------------------------------------

    def _before(self, rec: Any) -> None:
        """Report and release what lies between the previous record and ``rec``."""
        strays = []
        prev = rec.getprevious()
        while prev is not None and prev is not self.last_rec:
            strays.append(prev)
            prev = prev.getprevious()
        strays.reverse()
        following = [*strays, rec]
        if prev is not None and not _blank(prev.tail):
            self._text_error(prev.tail, following[0].sourceline)
        for stray, nxt in zip(strays, following[1:], strict=True):
            self._stray(stray, nxt.sourceline)
            self.root.remove(stray)

    def _text_error(self, text: str, next_line: int) -> None:
        line = _text_line(text, next_line)
        self.file_error(self.codes["content"], line, self.spec.detail("text"))

    def _stray(self, el: Any, next_line: int | None) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            return
        code = self.codes["nesting"] if tag in self.known else self.codes["unknown_tag"]
        line = self.line(el)
        self.file_error(code, line, self.spec.detail("stray", tag=tag[:_MAX_TAG]))
        if not _blank(el.tail):
            self._text_error(el.tail, next_line or line)

    def root_end(self, el: Any, end_line: int) -> None:
        """The root ended on ``end_line``: report what follows the last record."""
        if el is not self.root:
            return  # a RECS inside something else: reported by the enclosing walk
        children = list(el)
        following = [child.sourceline for child in children[1:]] + [end_line]
        for child, next_line in zip(children, following, strict=False):
            if child is self.last_rec:
                if not _blank(child.tail):
                    self._text_error(child.tail, next_line)
            else:
                self._stray(child, next_line)

    # -- releasing a large open record -----------------------------------------------------------

    def release(self) -> bool:
        """Turn the finished parts of the open record (and strays before it) into data and free
        their elements. Returns whether anything was released."""
        root = self.root
        if root is None or len(root) == 0:
            return False
        released = False
        last = root[-1]
        prev = last.getprevious()
        if prev is not None and prev is not self.last_rec:
            strays = []
            while prev is not None and prev is not self.last_rec:
                strays.append(prev)
                prev = prev.getprevious()
            strays.reverse()
            for stray, nxt in zip(strays, [*strays[1:], last], strict=True):
                self._stray(stray, nxt.sourceline)
                root.remove(stray)
            released = True
        if last.tag != self.lay.record or last is self.last_rec:
            return released
        col = self.open = self._collect(last)
        body = self._find_body(col)
        header_seen = False
        for child in last[:-1]:  # the last child may still be open
            if child is body:
                continue
            if not header_seen and child.tag == self.lay.header:
                header_seen = True
                continue  # kept: read when the record ends
            self._record_child(col, child)
            last.remove(child)
            released = True
        if body is not None:
            for child in body[:-1]:
                self._body_child(col, child)
                body.remove(child)
                released = True
        return released

    def open_record_line(self) -> int | None:
        """Line of the <REC> still open when the parser stopped, if any."""
        root = self.root
        if root is None or len(root) == 0:
            return None
        last = root[-1]
        if last.tag != self.lay.record or last is self.last_rec:
            return None
        return self.rec_line(last)
