# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mutants of one Python source file: AST-guided, applied as text replacements.

Each mutant replaces one span of the source (an operator token, a constant, an expression or a
statement) with new text; every other byte of the file stays as it is, so a mutant differs from the
original by exactly what its description says. Every
mutant run is checked to parse first (check_parses); one that does not is a bug of this module
(MutatorError), and a test checks every mutant of every configured file.

A mutant's id is stable across unrelated edits of the file:
``<path>:<operator>:<sha1 of the stripped source line, 10 hex>:<occurrence>``, where occurrence
counts the mutants of the same operator on lines with the same text, in file order.
"""

import ast
import bisect
import hashlib
import io
import tokenize

# operator name: what it does (docs/mutation.md lists these).
OPERATORS = {
    'cmp': 'a comparison swapped: == / !=, < / <=, > / >=, in / not in, is / is not',
    'boolop': 'and / or swapped',
    'or_left': '`x or y` replaced by `x`',
    'not': '`not` removed from, or added to, an if / while / return / conditional-expression / comprehension condition',
    'bool': 'True / False swapped',
    'int': 'an integer constant n -> n + 1 (0 -> 1)',
    'index': 'an integer index or slice bound n -> n + 1',
    'slice': 'a slice bound that is an expression e -> e + 1',
    'string': "a status or class literal swapped: 'pass' <-> 'fail', 'warn' -> 'pass', 'error' -> 'skip', "
              "'skip' -> 'pass', an error class -> another",
    'stmt': 'a statement replaced by pass (assignment, expression call, raise)',
    'return_none': '`return X` replaced by `return None`',
    'if_true': "an if's (or elif's) condition replaced by True",
    'if_false': "an if's (or elif's) condition replaced by False",
    'list_del': 'one element deleted from a tuple or list literal of strings',
}

STATUS_SWAPS = {'pass': 'fail', 'fail': 'pass', 'warn': 'pass', 'error': 'skip', 'skip': 'pass'}

_CMP_SWAPS = {ast.Eq: '!=', ast.NotEq: '==', ast.Lt: '<=', ast.LtE: '<', ast.Gt: '>=', ast.GtE: '>',
              ast.In: 'not in', ast.NotIn: 'in', ast.Is: 'is not', ast.IsNot: 'is'}
_CMP_TOKENS = {'==', '!=', '<', '<=', '>', '>=', 'in', 'not', 'is'}
# Operands that need parentheses when they replace an expression of higher precedence.
_LOOSE = (ast.IfExp, ast.Lambda, ast.NamedExpr)


class MutatorError(Exception):
    """The mutator made a mutant that does not parse: a bug here, not in the file."""


class Mutant(object):
    """One mutant: replace SOURCE[start:end] with REPLACEMENT."""

    def __init__(self, path, operator, line, start, end, original, replacement, note=None):
        self.path = path
        self.operator = operator
        self.line = line
        self.start = start
        self.end = end
        self.original = original
        self.replacement = replacement
        self.note = note  # what changed, when 'original -> replacement' would say it badly
        self.line_hash = None  # set by mutants_of, with the occurrence
        self.occurrence = 0

    @property
    def id(self):
        return '%s:%s:%s:%s' % (self.path, self.operator, self.line_hash, self.occurrence)

    def apply(self, source):
        return source[:self.start] + self.replacement + source[self.end:]

    def describe(self, width=70):
        if self.note:
            return _short(self.note, width)
        return '%s -> %s' % (_short(self.original, width), _short(self.replacement, width))

    def __repr__(self):
        return '<Mutant %s line %d: %s>' % (self.id, self.line, self.describe())


def _short(text, width):
    text = ' '.join(text.split())
    return text if len(text) <= width else text[:width - 3] + '...'


def line_hash(text):
    return hashlib.sha1(text.strip().encode('utf-8')).hexdigest()[:10]


class _Source(object):
    """Offsets in the source text from AST (line, UTF-8 byte column) and token (line, character) positions."""

    def __init__(self, text):
        self.text = text
        self.lines = text.splitlines(True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno, byte_col):
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode('utf-8')[:byte_col].decode('utf-8'))

    def char_offset(self, lineno, char_col):
        return self.starts[lineno - 1] + char_col

    def span(self, node):
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def segment(self, node):
        start, end = self.span(node)
        return self.text[start:end]

    def line_of(self, offset):
        return bisect.bisect_right(self.starts, offset)


def _parenthesized(node, text):
    return '(%s)' % text if isinstance(node, _LOOSE) else text


def _negated(node, text):
    return 'not (%s)' % text if isinstance(node, _LOOSE + (ast.BoolOp,)) else 'not %s' % text


def _is_int(node):
    return isinstance(node, ast.Constant) and type(node.value) is int  # pylint: disable=unidiomatic-typecheck


def _import_guard(node):
    """A try whose handlers catch ImportError: the optional-import dance, not logic worth mutating."""
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in ('ImportError', 'ModuleNotFoundError') for n in names):
            return True
    return False


class _Collector(ast.NodeVisitor):
    # pylint: disable=invalid-name  # visit_<NodeName> is ast.NodeVisitor's convention

    def __init__(self, path, source, classes):
        self.path = path
        self.src = source
        self.classes = sorted(classes)
        self.mutants = []
        self.tokens = []
        for tok in tokenize.generate_tokens(io.StringIO(source.text).readline):
            if tok.type in (tokenize.OP, tokenize.NAME):
                self.tokens.append((source.char_offset(*tok.start), source.char_offset(*tok.end), tok.string))
        self.token_starts = [t[0] for t in self.tokens]
        self.skip_ids = set()
        self.messages = set()  # string literals that only go into a message

    # -- helpers -----------------------------------------------------------------------------

    def add(self, operator, start, end, replacement):
        original = self.src.text[start:end]
        if original == replacement:
            return
        self.mutants.append(Mutant(self.path, operator, self.src.line_of(start), start, end, original, replacement))

    def add_node(self, operator, node, replacement):
        start, end = self.src.span(node)
        self.add(operator, start, end, replacement)

    def tokens_between(self, start, end, wanted):
        index = bisect.bisect_left(self.token_starts, start)
        found = []
        while index < len(self.tokens) and self.tokens[index][0] < end:
            if self.tokens[index][2] in wanted:
                found.append(self.tokens[index])
            index += 1
        return found

    def condition(self, test):
        """`not` removed from or added to a condition."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            self.add_node('not', test, _parenthesized(test.operand, self.src.segment(test.operand)))
        else:
            self.add_node('not', test, _negated(test, self.src.segment(test)))

    # -- statements --------------------------------------------------------------------------

    def visit_Try(self, node):
        if _import_guard(node):
            return
        self.generic_visit(node)

    def _body_docstring(self, node):
        body = getattr(node, 'body', None)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            self.skip_ids.add(id(body[0].value))

    def visit_Module(self, node):
        self._body_docstring(node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self._body_docstring(node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._body_docstring(node)
        self.generic_visit(node)

    def _statement(self, node):
        self.add_node('stmt', node, 'pass')

    def visit_Assign(self, node):
        if any(isinstance(t, ast.Name) and t.id == '__metaclass__' for t in getattr(node, 'targets', ())):
            return  # Python 2 boilerplate: does nothing on Python 3
        self._statement(node)
        self.generic_visit(node)

    visit_AugAssign = visit_Assign
    visit_AnnAssign = visit_Assign
    visit_Raise = visit_Assign

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Call):
            self._statement(node)
        self.generic_visit(node)

    def visit_Return(self, node):
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self.add_node('return_none', node.value, 'None')
            if isinstance(node.value, (ast.Compare, ast.BoolOp)) or (
                    isinstance(node.value, ast.UnaryOp) and isinstance(node.value.op, ast.Not)):
                self.condition(node.value)
        self.generic_visit(node)

    def visit_If(self, node):
        self.condition(node.test)
        for value in ('True', 'False'):
            if not (isinstance(node.test, ast.Constant) and repr(node.test.value) == value):
                self.add_node('if_%s' % value.lower(), node.test, value)
        self.generic_visit(node)

    def visit_While(self, node):
        self.condition(node.test)
        self.generic_visit(node)

    # -- expressions -------------------------------------------------------------------------

    def visit_IfExp(self, node):
        self.condition(node.test)
        self.generic_visit(node)

    def visit_comprehension(self, node):
        for test in node.ifs:
            self.condition(test)
        self.generic_visit(node)

    def visit_Compare(self, node):
        operands = [node.left] + node.comparators
        for index, op in enumerate(node.ops):
            start = self.src.span(operands[index])[1]
            end = self.src.span(operands[index + 1])[0]
            found = self.tokens_between(start, end, _CMP_TOKENS)
            if found:
                self.add('cmp', found[0][0], found[-1][1], _CMP_SWAPS[type(op)])
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        other = 'or' if isinstance(node.op, ast.And) else 'and'
        for index in range(len(node.values) - 1):
            start = self.src.span(node.values[index])[1]
            end = self.src.span(node.values[index + 1])[0]
            for tok in self.tokens_between(start, end, ('and', 'or')):
                self.add('boolop', tok[0], tok[1], other)
        if isinstance(node.op, ast.Or):
            first = node.values[0]
            self.add_node('or_left', node, _parenthesized(first, self.src.segment(first)))
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            self._message(node.right)  # '...' % (...): the arguments of a message
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ('format', 'join') and isinstance(func.value, ast.Constant):
            for arg in node.args + [k.value for k in node.keywords]:
                self._message(arg)
        self.generic_visit(node)

    def _message(self, node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                self.messages.add(id(sub))

    def visit_JoinedStr(self, node):
        pass  # f-strings: messages, and their parts' positions are not the literal's

    def visit_Constant(self, node):
        if id(node) in self.skip_ids:
            return
        value = node.value
        if isinstance(value, bool):
            self.add_node('bool', node, repr(not value))
        elif _is_int(node):
            self.add_node('int', node, repr(value + 1))
        elif isinstance(value, str) and id(node) not in self.messages:
            if value in STATUS_SWAPS:
                self.add_node('string', node, repr(STATUS_SWAPS[value]))
            elif value in self.classes:
                self.add_node('string', node, repr(self.classes[(self.classes.index(value) + 1) % len(self.classes)]))

    def visit_Subscript(self, node):
        bounds = [node.slice.lower, node.slice.upper, node.slice.step] if isinstance(node.slice, ast.Slice) \
            else [node.slice]
        for bound in bounds:
            if bound is None:
                continue
            if _is_int(bound):
                self.add_node('index', bound, repr(bound.value + 1))
                self.skip_ids.add(id(bound))
            elif isinstance(node.slice, ast.Slice):
                text = self.src.segment(bound)
                loose = isinstance(bound, _LOOSE + (ast.BoolOp, ast.Compare, ast.UnaryOp))
                self.add_node('slice', bound, '(%s) + 1' % text if loose else '%s + 1' % text)
        self.generic_visit(node)

    def _literal(self, node):
        elts = node.elts
        if not elts or not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts):
            return
        if any(any(c.isspace() for c in e.value) for e in elts):
            return  # messages, not names
        text = self.src.segment(node)
        opening, closing = ('[', ']') if isinstance(node, ast.List) else ('(', ')')
        for index in range(len(elts)):
            rest = [self.src.segment(e) for i, e in enumerate(elts) if i != index]
            inner = ', '.join(rest) + (',' if len(rest) == 1 and isinstance(node, ast.Tuple) else '')
            replacement = opening + inner + closing
            if isinstance(node, ast.Tuple) and not text.startswith('('):
                replacement = '(%s)' % replacement  # a bare tuple keeps its meaning in parentheses
            start, end = self.src.span(node)
            self.mutants.append(Mutant(self.path, 'list_del', self.src.line_of(self.src.span(elts[index])[0]),
                                       start, end, text, replacement, 'delete %s' % self.src.segment(elts[index])))

    def visit_Tuple(self, node):
        self._literal(node)
        self.generic_visit(node)

    visit_List = visit_Tuple


def mutants_of(path, text, classes=()):
    """Every mutant of TEXT (the source of PATH, a path relative to the repository), in file order, with ids."""
    source = _Source(text)
    tree = ast.parse(text, filename=path)
    collector = _Collector(path, source, classes)
    collector.visit(tree)
    found, seen = [], set()
    for mutant in sorted(collector.mutants, key=lambda m: (m.start, m.end, m.operator, m.replacement)):
        mutated = mutant.apply(text)
        if mutated in seen:
            continue
        seen.add(mutated)
        found.append(mutant)
    counts = {}
    for mutant in found:
        mutant.line_hash = line_hash(source.lines[mutant.line - 1])
        key = (mutant.operator, mutant.line_hash)
        mutant.occurrence = counts.get(key, 0)
        counts[key] = mutant.occurrence + 1
    return found


def check_parses(mutants, text):
    """MutatorError when a mutant of TEXT does not parse (a bug of this module; about 3 ms a mutant)."""
    for mutant in mutants:
        try:
            ast.parse(mutant.apply(text))
        except SyntaxError as exc:
            raise MutatorError('%s line %d: %s makes a mutant that does not parse: %s' % (
                mutant.path, mutant.line, mutant.describe(), exc))


def class_names(text, variable):
    """The keys of the module-level dict literal VARIABLE in TEXT (a vocabulary of classes)."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets) \
                and isinstance(node.value, ast.Dict):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    raise ValueError('no dict literal %s' % variable)


def sample(mutants, count, seed, path):
    """COUNT mutants spread evenly over the file (MUTANTS in file order), the same ones for the same SEED."""
    if count is None or count >= len(mutants):
        return list(mutants)
    offset = int(hashlib.sha1(('%s:%s' % (seed, path)).encode('utf-8')).hexdigest(), 16) % 10 ** 6 / 10.0 ** 6
    step = len(mutants) / float(count)
    return [mutants[int((i + offset) * step)] for i in range(count)]
