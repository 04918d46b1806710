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

import re
from collections import deque
from collections.abc import Callable
from typing import Any

from lxml import etree

from nhihub.formats.model import FileError, Finding, Record
from nhihub.formats.spec import ReaderSpec
from nhihub.specs.fields import VERSIONS, segment_ids

# libxml2 keeps element line numbers in 16 bits; beyond, lxml reports the line of the first text
# below the element. Lines of <REC> tags are then taken from the bytes themselves (RecLines).
LINE_CAP = 65535
_REC_START = re.compile(rb"<REC[ \t\r\n/>]")
_MAX_TAG = 40  # longest tag name repeated in a finding or a detail
_XML_SPACE = " \t\r\n"  # what is stripped from field texts: XML white space only
_DESCENDANTS = etree.XPath("count(descendant::node())")
_ROOT_DESCENDANTS = etree.XPath("count(descendant::node()) - count(text())")


class Fatal(Exception):
    """Reading must stop; ``error`` is the last item of the stream."""

    def __init__(self, error: FileError) -> None:
        super().__init__(error.detail)
        self.error = error


FileErrorSink = Callable[[str, int, str], None]


class RecLines:
    """Line numbers of ``<REC`` start tags in the bytes fed to the parser, for lines libxml2
    cannot store. Only kept from line 60,000 on."""

    _FROM = 60000

    def __init__(self) -> None:
        self._lines: deque[int] = deque()

    def note(self, data: bytes, line: int, end_line: int) -> None:
        """Record the ``<REC`` tags of ``data``, which spans ``line`` to ``end_line``."""
        if end_line < self._FROM:
            return
        pos = 0
        for m in _REC_START.finditer(data):
            line += data.count(b"\n", pos, m.start())
            pos = m.start()
            self._lines.append(line)

    def take(self, approx: int) -> int:
        """The start line of the next record, given lxml's line ``approx`` (never smaller)."""
        found = approx
        lines = self._lines
        while lines and lines[0] <= approx:
            found = lines.popleft()
        return found


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
        self.ids = {
            v: (segment_ids(v, lay.header), segment_ids(v, lay.visit), segment_ids(v, lay.order))
            for v in VERSIONS
        }
        self.header_any = frozenset().union(*(self.ids[v][0] for v in VERSIONS))
        self.lines = RecLines()
        # Records since the last flush: (element, descendant nodes, provisional fast Record).
        self.done: list[tuple[Any, int, Record | None]] = []
        self.root: Any = None
        self.root_text_checked = False
        self.last_rec: Any = None
        # The record being collected by the exact walk (after a release, or when not fast).
        self.cur: Any = None
        self.cur_body: Any = None
        self.cur_orders: list[dict[str, str]] = []
        self.cur_count = 0
        self.cur_problems: list[Finding] = []
        self.cur_mb1: dict[str, str] = {}
        self.cur_visit_seen = False
        self.cur_version = VERSIONS[0]
        self.cur_known_version = False

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
        if len(problems) < self.max_problems:
            problems.append(Finding(field, code))

    def see_root(self, root: Any) -> None:
        self.root = root

    def check_root_text(self) -> None:
        """Text before the first child of the root (complete once a record has ended); once."""
        root = self.root
        if self.root_text_checked or root is None:
            return
        self.root_text_checked = True
        if root.text is not None and not root.text.isspace():
            self.file_error(self.codes["content"], self.line(root), self.spec.detail("text"))

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
        record = None if rec is self.cur else self._fast(rec)
        if record is None:
            record = self._exact(rec)
            self.done.append((rec, int(_DESCENDANTS(rec)), None))
        self.last_rec = rec
        return record

    def verify(self) -> dict[int, Record]:
        """Prove the fast records since the last call well formed by counting the root's nodes
        once; any that is not is read again by the exact walk. Returns replacements by id()."""
        done = self.done
        if not any(fast is not None for _, _, fast in done):
            return {}
        expected = sum(1 + desc for _, desc, _ in done)
        nxt = self.last_rec.getnext()
        while nxt is not None:  # the record being parsed, strays not yet reported
            expected += 1 + int(_DESCENDANTS(nxt))
            nxt = nxt.getnext()
        replaced: dict[int, Record] = {}
        if int(_ROOT_DESCENDANTS(self.root)) != expected:
            for i, (el, desc, fast) in enumerate(done):
                if fast is None:
                    continue
                actual = int(_DESCENDANTS(el))
                if actual != desc:
                    self.info.records -= 1
                    self.info.orders -= len(fast.mb2)
                    replaced[id(fast)] = self._exact(el, line=fast.line)
                    done[i] = (el, actual, None)
        self.done = [(el, desc, None) for el, desc, _ in done]
        return replaced

    def flush(self) -> None:
        """Drop the finished records before the last one (whose tail may still grow)."""
        last = self.last_rec
        if last is None or last.getprevious() is None:
            return
        del self.root[: self.root.index(last)]
        self.done = [entry for entry in self.done if entry[0] is last]

    def _fast(self, rec: Any) -> Record | None:
        """The record if it looks well formed, else None (then the exact walk names the
        problems). Field texts are read in one comprehension per segment; :meth:`verify` later
        proves there is no stray text, no element below a field and no repeated field, each of
        which adds nodes that the dicts do not account for."""
        lay = self.lay
        if len(rec) != 2:
            return None
        msh, mb = rec
        if msh.tag != lay.header or mb.tag != lay.body:
            return None
        ws = _XML_SPACE
        try:
            header = {f.tag: f.text.strip(ws) for f in msh}
            parts = mb[:]
            visit = parts[0]
            mb1 = {f.tag: f.text.strip(ws) for f in visit}
            orders = [{f.tag: f.text.strip(ws) for f in line} for line in parts[1:]]
        except (AttributeError, IndexError):  # an empty field or an empty MB
            return None
        keys = header.keys()
        for version in VERSIONS:
            ids = self.ids[version]
            if not keys.isdisjoint(ids[0]):
                break
        else:
            return None
        limit = self.max_text
        if (
            visit.tag != lay.visit
            or not keys <= ids[0]
            or not mb1.keys() <= ids[1]
            or "" in header.values()
            or "" in mb1.values()
            or max(map(len, header.values())) > limit
            or (mb1 and max(map(len, mb1.values())) > limit)
            or len(orders) > self.max_orders
        ):
            return None
        order_tag = lay.order
        order_ids = ids[2]
        fields = len(header) + len(mb1)
        for line, values in zip(parts[1:], orders, strict=True):
            if (
                line.tag != order_tag
                or not values.keys() <= order_ids
                or "" in values.values()
                or (values and max(map(len, values.values())) > limit)
            ):
                return None
            fields += len(values)
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
        self.done.append((rec, 3 + len(orders) + 2 * fields, record))
        return record

    # -- the exact walk --------------------------------------------------------------------------

    def _start(self, rec: Any) -> None:
        """Begin collecting ``rec`` with the exact walk: version from its MSH, body = first MB."""
        lay = self.lay
        self.cur = rec
        self.cur_orders = []
        self.cur_count = 0
        self.cur_problems = []
        self.cur_mb1 = {}
        self.cur_visit_seen = False
        self.cur_body = None
        tags: set[str] = set()
        header_seen = False
        for child in rec:
            tag = child.tag
            if tag == lay.header and not header_seen:
                header_seen = True
                tags = {f.tag for f in child}
            elif tag == lay.body:
                self.cur_body = child
                break
        for version in VERSIONS:
            if tags & self.ids[version][0]:
                self.cur_version = version
                self.cur_known_version = True
                return
        self.cur_version = self.info.version or VERSIONS[0]
        self.cur_known_version = False

    def _find_body(self, rec: Any) -> Any:
        """The record's first MB, which may have started after the collection began."""
        if self.cur_body is None:
            for child in rec:
                if child.tag == self.lay.body:
                    self.cur_body = child
                    break
        return self.cur_body

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
                text = text.strip(_XML_SPACE)
                if not text:
                    continue
                if len(text) > self.max_text:
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

    def _text_around(self, el: Any, where: str) -> None:
        if el.tail is not None and not el.tail.isspace():
            self.problem(self.cur_problems, where, self.codes["content"])

    def _order_line(self, el: Any) -> None:
        n = self.cur_count = self.cur_count + 1
        fields = self._fields(el, self.ids[self.cur_version][2], f"[{n}]", self.cur_problems)
        if n <= self.max_orders:
            self.cur_orders.append(fields)
        else:
            self.info.dropped_orders += 1

    def _body_child(self, child: Any) -> None:
        """One child of the record's MB: MB1, an MB2 line, or something misplaced."""
        lay = self.lay
        self._text_around(child, lay.body)
        tag = child.tag
        if tag == lay.order:
            self._order_line(child)
        elif tag == lay.visit and not self.cur_visit_seen:
            self.cur_visit_seen = True
            self.cur_mb1 = self._fields(
                child, self.ids[self.cur_version][1], "", self.cur_problems
            )
        elif tag == lay.visit:
            self.problem(self.cur_problems, tag, self.codes["nesting"])
        else:
            self._misplaced(tag, self.cur_problems)

    def _record_child(self, child: Any, msh: Any) -> Any:
        """One child of the REC other than the body; returns the MSH when it is the first."""
        lay = self.lay
        self._text_around(child, lay.record)
        tag = child.tag
        if tag == lay.header and msh is None:
            return child
        if tag == lay.header or tag == lay.body:
            self.problem(self.cur_problems, tag, self.codes["nesting"])
        else:
            self._misplaced(tag, self.cur_problems)
        return msh

    def _exact(self, rec: Any, *, line: int | None = None) -> Record:
        lay = self.lay
        codes = self.codes
        if rec is not self.cur:
            self._start(rec)
        problems = self.cur_problems
        version = self.cur_version
        if rec.text is not None and not rec.text.isspace():
            self.problem(problems, lay.record, codes["content"])
        msh = None
        body = self._find_body(rec)
        for child in rec:
            if child is body:
                self._text_around(child, lay.record)
            else:
                msh = self._record_child(child, msh)
        if not self.cur_known_version:
            self.problem(problems, lay.header, codes["header"])
        header = {} if msh is None else self._fields(msh, self.ids[version][0], "", problems)
        if body is None:
            self.problem(problems, lay.body, codes["nesting"])
        else:
            if body.text is not None and not body.text.isspace():
                self.problem(problems, lay.body, codes["content"])
            for child in body:
                self._body_child(child)
            if not self.cur_visit_seen:
                self.problem(problems, lay.visit, codes["nesting"])
        info = self.info
        info.records += 1
        info.orders += self.cur_count
        if info.version is None:
            info.version = version
        elif info.version != version:
            info.mixed_versions = True
        record = Record(
            info.records,
            self.rec_line(rec) if line is None else line,
            version,
            header,
            self.cur_mb1,
            self.cur_orders,
            problems,
        )
        self.cur = None
        self.cur_body = None
        return record

    # -- what lies between records -----------------------------------------------------------------

    def _before(self, rec: Any) -> None:
        """Report and release what lies between the previous record and ``rec``."""
        strays = []
        prev = rec.getprevious()
        while prev is not None and prev is not self.last_rec:
            strays.append(prev)
            prev = prev.getprevious()
        if prev is not None and prev.tail is not None and not prev.tail.isspace():
            self.file_error(self.codes["content"], self.line(rec), self.spec.detail("text"))
        for stray in reversed(strays):
            self._stray(stray)
            self.root.remove(stray)

    def _stray(self, el: Any) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            return
        code = self.codes["nesting"] if tag in self.known else self.codes["unknown_tag"]
        line = self.line(el)
        self.file_error(code, line, self.spec.detail("stray", tag=tag[:_MAX_TAG]))
        if el.tail is not None and not el.tail.isspace():
            self.file_error(self.codes["content"], line, self.spec.detail("text"))

    def root_end(self, el: Any) -> None:
        if el is not self.root:
            return  # a RECS inside something else: reported by the enclosing walk
        for child in el:
            if child is self.last_rec:
                if child.tail is not None and not child.tail.isspace():
                    self.file_error(self.codes["content"], self.line(el), self.spec.detail("text"))
            else:
                self._stray(child)

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
            for stray in reversed(strays):
                self._stray(stray)
                root.remove(stray)
            released = True
        if last.tag != self.lay.record or last is self.last_rec:
            return released
        if last is not self.cur:
            self._start(last)
        body = self._find_body(last)
        msh = None
        for child in last[:-1]:
            if child is body:
                continue
            if msh is None and child.tag == self.lay.header:
                msh = child
                continue  # kept: read when the record ends
            self._record_child(child, child)
            last.remove(child)
            released = True
        if body is not None:
            for child in body[:-1]:
                self._body_child(child)
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
