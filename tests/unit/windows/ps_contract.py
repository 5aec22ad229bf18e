# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading the PowerShell twins without PowerShell: a real grammar (tree-sitter-powershell).

No pwsh runs here, so the twins are checked statically:

- syntax_errors(): every ERROR or MISSING node of the parse tree, with its line;
- option_spec(): the ``$spec = @{ options = @{...} }`` hashtable literal as a Python dict;
- result_keys(): the keys of the result each twin builds. A hashtable literal preceded by a
  ``# RETURN: <path>`` comment builds the dictionary documented at <path> (``results[]`` is an
  element of the list ``results``); its nested literals build the paths below it; the variable it
  is assigned to stands for that path in the whole file (PowerShell names are case-insensitive),
  so ``$Result.key = ...``, ``$Result['key'] = ...``, ``$Result.a, $Result.b = ...`` or
  ``$Result[$name] = ...`` inside ``foreach ($name in 'a', 'b')`` adds keys. ``$module.Result.x = ...``
  adds a top-level key;
- contract_problems(): every difference between those and the Python twin's argument spec and
  RETURN documentation.
"""

import ast
import os
import re

import yaml

try:
    import tree_sitter
    import tree_sitter_powershell
    HAS_TREE_SITTER = True
    TREE_SITTER_ERROR = None
except ImportError as exc:  # the tests decide whether that is a skip or a failure
    HAS_TREE_SITTER = False
    TREE_SITTER_ERROR = exc

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MODULES = os.path.join(REPO_ROOT, 'plugins', 'modules')
MODULE_UTILS = os.path.join(REPO_ROOT, 'plugins', 'module_utils')
# Keys every Ansible module result may carry besides its documented ones.
COMMON_RESULT_KEYS = frozenset(('changed', 'failed', 'msg', 'invocation', 'warnings', 'deprecations', 'exception'))
# Nodes that stand for a value of their own (not wrappers around a single child).
VALUE_NODES = frozenset((
    'hash_literal_expression', 'array_expression', 'array_literal_expression', 'string_literal',
    'expandable_string_literal', 'expandable_here_string_literal', 'verbatim_string_characters',
    'verbatim_here_string_characters', 'decimal_integer_literal', 'real_literal', 'hexadecimal_integer_literal',
    'variable', 'cast_expression', 'expression_with_unary_operator', 'member_access', 'element_access',
    'invokation_expression', 'command', 'sub_expression', 'script_block_expression',
))
RETURN_MARK = re.compile(r'^#\s*RETURN:\s*(?P<path>\S+)\s*$')
REQUIRES_PS = re.compile(r'(?im)^#\s*ansiblerequires\s+-powershell\s+\.\.module_utils\.(?P<name>[\w.]+)')


class Opaque(object):
    """A value that is computed at run time (not a literal)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return 'Opaque(%r)' % self.text


def parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def parse(source):
    """The tree of SOURCE (str or bytes)."""
    if isinstance(source, str):
        source = source.encode('utf-8')
    return parser().parse(source)


def syntax_errors(source):
    """[(line, column, kind, text)] for every ERROR or MISSING node; [] when the source parses."""
    tree = parse(source)
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == 'ERROR' or node.is_missing:
            problems.append((node.start_point[0] + 1, node.start_point[1], 'MISSING' if node.is_missing else 'ERROR',
                             node.text.decode('utf-8', 'replace')[:60]))
            continue
        stack.extend(node.children)
    return sorted(problems)


def _text(node):
    return node.text.decode('utf-8')


def _unwrap(node):
    """The node that carries the value: skip chains of single-child grammar wrappers."""
    while node.named_child_count == 1 and (node.type not in VALUE_NODES or node.type == 'array_literal_expression'):
        node = node.named_children[0]
    return node


def _walk(node):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _string(node):
    text = _text(node)
    if node.type in ('verbatim_string_characters', 'string_literal') and text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.startswith('"'):
        return text[1:-1]
    return text


def _key(node):
    """The key of a hash_entry's key_expression."""
    node = _unwrap(node)
    if node.type in ('string_literal', 'verbatim_string_characters', 'expandable_string_literal'):
        return _string(node)
    return _text(node)


def value(node):
    """The Python value of a literal PowerShell expression; Opaque for anything computed."""
    node = _unwrap(node)
    kind = node.type
    if kind == 'hash_literal_expression':
        result = {}
        for entry in _walk(node):
            if entry.type == 'hash_entry' and _enclosing_hash(entry) == node:
                key_node = entry.child_by_field_name('key') or entry.named_children[0]
                value_node = entry.named_children[-1]
                result[_key(key_node)] = value(value_node)
        return result
    if kind == 'cast_expression' and _text(node).lower().startswith('[ordered]'):
        return value(node.named_children[-1])
    if kind == 'array_expression':
        inner = list(node.named_children)
        if not inner:
            return []
        items = value(inner[0])
        return items if isinstance(items, list) else [items]
    if kind == 'array_literal_expression':
        return [value(c) for c in node.named_children]
    if kind in ('string_literal', 'verbatim_string_characters', 'expandable_string_literal'):
        return _string(node)
    if kind == 'decimal_integer_literal':
        return int(_text(node))
    if kind == 'real_literal':
        return float(_text(node))
    if kind == 'variable':
        name = _text(node).lower()
        if name in ('$true', '$false', '$null'):
            return {'$true': True, '$false': False, '$null': None}[name]
    if kind == 'expression_with_unary_operator':
        if _text(node).startswith('-'):
            inner = value(node.named_children[-1])
            if isinstance(inner, (int, float)):
                return -inner
        elif node.named_child_count == 1:  # a cast such as [ordered]@{...} parses as a unary operator
            return value(node.named_children[0])
    if kind == 'statement_list' or kind == 'pipeline':
        children = node.named_children
        if len(children) == 1:
            return value(children[0])
    return Opaque(_text(node))


def _enclosing_hash(node):
    parent = node.parent
    while parent is not None and parent.type != 'hash_literal_expression':
        parent = parent.parent
    return parent


def _assignments(tree):
    for node in _walk(tree.root_node):
        if node.type == 'assignment_expression':
            yield node


def option_spec(source):
    """The hashtable assigned to $spec, as a Python dict."""
    tree = parse(source)
    for node in _assignments(tree):
        left = _unwrap(node.named_children[0])
        if left.type == 'variable' and _text(left).lower() == '$spec':
            return value(node.named_children[-1])
    raise AssertionError('no $spec = @{...} assignment found')


def _loop_values(node, variable):
    """The literal strings a foreach loop around NODE gives VARIABLE, or None."""
    parent = node.parent
    while parent is not None:
        if parent.type == 'foreach_statement':
            names = [c for c in parent.named_children if c.type == 'variable']
            if names and _text(names[0]).lower() == variable.lower():
                items = value(parent.named_children[names and parent.named_children.index(names[0]) + 1])
                items = items if isinstance(items, list) else [items]
                return items if all(isinstance(i, str) for i in items) else None
        parent = parent.parent
    return None


def _targets(left):
    """The assignable expressions of an assignment's left side ($a.b, or $a.b, $c.d = ...)."""
    left = _unwrap(left)
    if left.type == 'array_literal_expression':
        return [_unwrap(c) for c in left.named_children]
    return [left]


def _access_chain(node):
    """('$var', [keys]) of $var.a.b or $var['a'].b; a key is None when it is computed, or a list of
    the strings a foreach loop gives the variable that indexes it ($var[$name])."""
    node = _unwrap(node)
    keys = []
    while node.type in ('member_access', 'element_access'):
        base, rest = node.named_children[0], node.named_children[1:]
        if node.type == 'member_access':
            name = rest[-1] if rest else None
            keys.append(_text(name) if name is not None and name.type in ('simple_name', 'member_name') else None)
        else:
            index_node = _unwrap(rest[0]) if rest else None
            index = value(index_node) if index_node is not None else None
            if index_node is not None and index_node.type == 'variable':
                index = _loop_values(node, _text(index_node))
            keys.append(index if isinstance(index, (str, list)) else None)
        node = _unwrap(base)
    if node.type != 'variable':
        return None, []
    return _text(node).lower(), list(reversed(keys))


def _marked_assignments(tree, source_lines):
    """[(path, assignment node)] for each assignment right below a '# RETURN: path' comment."""
    marked = []
    for node in _walk(tree.root_node):
        if node.type != 'comment':
            continue
        match = RETURN_MARK.match(_text(node).strip())
        if not match:
            continue
        following = node.next_named_sibling
        while following is not None and following.type == 'comment':
            following = following.next_named_sibling
        assignment = None
        if following is not None:
            for candidate in _walk(following):
                if candidate.type == 'assignment_expression':
                    assignment = candidate
                    break
        if assignment is None:
            raise AssertionError('line %d: "# RETURN: %s" is not followed by an assignment of a hashtable literal'
                                 % (node.start_point[0] + 1, match.group('path')))
        marked.append((match.group('path'), assignment))
    return marked


def _add_literal(found, literal_keys, path, literal):
    keys = found.setdefault(path, set())
    in_literal = literal_keys.setdefault(path, set())
    for key, item in literal.items():
        keys.add(key)
        in_literal.add(key)
        if isinstance(item, dict):
            _add_literal(found, literal_keys, '%s.%s' % (path, key) if path else key, item)


def result_keys(sources, literal_keys=None):
    """{path: set of keys} built by the PowerShell SOURCES of one module (its .ps1 and its utils).

    LITERAL_KEYS, a dict, receives {path: keys present in the literal itself}: those are in every
    result, while keys added by an assignment ($Result.key = ...) may be missing from some.
    """
    found = {}
    literal_keys = {} if literal_keys is None else literal_keys
    for source in sources:
        tree = parse(source)
        bindings = {}
        for path, assignment in _marked_assignments(tree, None):
            literal = value(assignment.named_children[-1])
            if not isinstance(literal, dict):
                raise AssertionError('"# RETURN: %s": the value assigned is not a hashtable literal' % path)
            _add_literal(found, literal_keys, path, literal)
            left = _unwrap(assignment.named_children[0])
            if left.type == 'variable':
                bindings[_text(left).lower()] = path
        for assignment in _assignments(tree):
            for target in _targets(assignment.named_children[0]):
                variable, keys = _access_chain(target)
                if variable == '$module' and keys[:1] == ['Result']:
                    path, keys = '', keys[1:]
                elif variable in bindings and keys:
                    path = bindings[variable]
                else:
                    continue
                if not keys or None in keys or any(isinstance(k, list) for k in keys[:-1]):
                    continue  # a computed key (e.g. counts per error class)
                for key in keys[:-1]:
                    path = '%s.%s' % (path, key) if path else key
                found.setdefault(path, set()).update(keys[-1] if isinstance(keys[-1], list) else [keys[-1]])
    return found


def documented_keys(return_doc):
    """{path: set of keys} of every dictionary in a RETURN document, and {path: spec} of every entry."""
    keys, specs = {'': set(return_doc)}, {}

    def visit(path, entries):
        for name, spec in entries.items():
            here = '%s.%s' % (path, name) if path else name
            specs[here] = spec
            if 'contains' in spec:
                inner = here + '[]' if spec.get('type') == 'list' else here
                keys[inner] = set(spec['contains'])
                visit(inner, spec['contains'])
    visit('', return_doc)
    return keys, specs


def named_in_description(spec):
    """The C(name) values a description lists (for dictionaries documented without contains)."""
    description = spec.get('description') or ''
    if isinstance(description, list):
        description = ' '.join(description)
    return set(re.findall(r'C\(([a-z_]+)\)', description))


def module_docs_text(source):
    """{DOCUMENTATION, EXAMPLES, RETURN: text} of a module's source."""
    docs = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
                docs[node.targets[0].id] = node.value.value
    return docs


def module_docs(path):
    """DOCUMENTATION, EXAMPLES and RETURN of a module's .py (twin or sidecar), parsed."""
    with open(path) as handle:
        texts = module_docs_text(handle.read())
    return dict((key, yaml.safe_load(text)) for key, text in texts.items())


def normalise_spec(options):
    """An argument spec (Python or PowerShell) with Ansible's defaults made explicit."""
    normal = {}
    for name, spec in options.items():
        entry = {
            'type': spec.get('type', 'str'),
            'required': bool(spec.get('required', False)),
            'default': spec.get('default'),
            'choices': list(spec['choices']) if spec.get('choices') is not None else None,
            'elements': spec.get('elements'),
            'no_log': bool(spec.get('no_log', False)),
        }
        if isinstance(entry['default'], tuple):
            entry['default'] = list(entry['default'])
        if spec.get('options') is not None:
            entry['options'] = normalise_spec(spec['options'])
        normal[name] = entry
    return normal


def spec_problems(python_spec, ps_spec, where=''):
    problems = []
    python_spec, ps_spec = normalise_spec(python_spec), normalise_spec(ps_spec)
    for name in sorted(set(python_spec) | set(ps_spec)):
        here = where + name
        if name not in ps_spec:
            problems.append('option %s: in the Python twin, missing from the .ps1 spec' % here)
            continue
        if name not in python_spec:
            problems.append('option %s: in the .ps1 spec, not in the Python twin' % here)
            continue
        for field in ('type', 'required', 'default', 'choices', 'elements', 'no_log'):
            left, right = python_spec[name][field], ps_spec[name][field]
            if isinstance(left, Opaque) or isinstance(right, Opaque) or left != right or isinstance(left, bool) != isinstance(right, bool):
                problems.append('option %s: %s is %r in the Python twin, %r in the .ps1' % (here, field, left, right))
        if 'options' in python_spec[name] or 'options' in ps_spec[name]:
            problems.extend(spec_problems(python_spec[name].get('options') or {}, ps_spec[name].get('options') or {},
                                          here + '.'))
    return problems


def requires_utils(source):
    """The collection PowerShell utils a .ps1 names with #AnsibleRequires -PowerShell ..module_utils.X."""
    return [os.path.join(MODULE_UTILS, match.group('name') + '.psm1') for match in REQUIRES_PS.finditer(source)]


def _conditional(spec):
    """Whether RETURN says the key is only sometimes there (returned: when ...)."""
    returned = str(spec.get('returned') or 'always').strip().lower()
    return returned not in ('always', 'success')


def result_problems(found, return_doc, literal_keys=None):
    """Differences between the keys a twin builds (FOUND) and its RETURN documentation.

    A key documented as always returned must be in the hashtable literal (LITERAL_KEYS), so that
    it is in every result as in the Python twin; one returned only 'when ...' may be added later.
    """
    documented, specs = documented_keys(return_doc)
    literal_keys = literal_keys or {}
    problems = []
    for path in sorted(literal_keys):
        if path in documented and path in found:
            for key in sorted(documented[path] - literal_keys[path]):
                here = '%s.%s' % (path, key) if path else key
                if key in found[path] and not _conditional(specs.get(here, {})):
                    problems.append('%s: RETURN documents %r as always returned, the .ps1 adds it only sometimes '
                                    '(it is missing from the "# RETURN: %s" literal)' % (path, key, path))
    for path in sorted(found):
        keys = found[path]
        if path == '':
            extra = keys - documented[''] - COMMON_RESULT_KEYS
            missing = documented[''] - keys
        elif path in documented:
            extra, missing = keys - documented[path], documented[path] - keys
        elif path in specs and specs[path].get('type') == 'dict':
            allowed = named_in_description(specs[path])
            extra, missing = keys - allowed, (allowed - keys) if keys else set()
        else:
            problems.append('%s: the .ps1 builds a dictionary here (keys %s), RETURN documents none'
                            % (path, ', '.join(sorted(keys))))
            continue
        for key in sorted(extra):
            problems.append('%s: the .ps1 returns %r, which RETURN does not document' % (path or '(top level)', key))
        for key in sorted(missing):
            problems.append('%s: RETURN documents %r, which the .ps1 never returns' % (path or '(top level)', key))
    for path in sorted(documented):
        if path not in found:
            problems.append('%s: RETURN documents a dictionary that no "# RETURN: %s" literal builds' % (path, path))
    return problems


def contract_problems(ps1_path, python_spec, return_doc, util_paths=None):
    """Every difference between a .ps1 (with its utils) and its Python twin's spec and RETURN."""
    with open(ps1_path) as handle:
        source = handle.read()
    if util_paths is None:
        util_paths = requires_utils(source)
    sources = [source]
    for path in util_paths:
        with open(path) as handle:
            sources.append(handle.read())
    spec = option_spec(source)
    problems = []
    if spec.get('supports_check_mode') is not True:
        problems.append('the .ps1 spec does not set supports_check_mode = $true')
    problems.extend(spec_problems(python_spec, spec.get('options') or {}))
    literal_keys = {}
    found = result_keys(sources, literal_keys)
    problems.extend(result_problems(found, return_doc, literal_keys))
    return problems


def function_literal(source, function_name):
    """The value of the first hashtable literal in FUNCTION_NAME's body."""
    tree = parse(source)
    for node in _walk(tree.root_node):
        if node.type == 'function_statement':
            name = [c for c in node.named_children if c.type == 'function_name']
            if name and _text(name[0]).lower() == function_name.lower():
                for inner in _walk(node):
                    if inner.type == 'hash_literal_expression':
                        return value(inner)
    raise AssertionError('no hashtable literal in function %s' % function_name)


def doc_structure(options, with_descriptions=False):
    """The options (or RETURN) documentation without descriptions, for comparing twins' docs."""
    out = {}
    for name, spec in (options or {}).items():
        entry = dict((k, v) for k, v in spec.items()
                     if k not in ('description', 'suboptions', 'contains', 'sample') or with_descriptions)
        if 'suboptions' in spec:
            entry['suboptions'] = doc_structure(spec['suboptions'])
        if 'contains' in spec:
            entry['contains'] = doc_structure(spec['contains'])
        out[name] = entry
    return out


def functions(source):
    """{name: set of command names its body invokes} for every function SOURCE defines."""
    tree = parse(source)
    found = {}
    for node in _walk(tree.root_node):
        if node.type != 'function_statement':
            continue
        names = [c for c in node.named_children if c.type == 'function_name']
        if not names:
            continue
        calls = set()
        for inner in _walk(node):
            if inner.type == 'command_name':
                calls.add(_text(inner))
        found[_text(names[0])] = calls
    return found


def exported_functions(source):
    """The names an Export-ModuleMember -Function @(...) call lists."""
    tree = parse(source)
    for node in _walk(tree.root_node):
        if node.type == 'command' and node.named_children and _text(node.named_children[0]) == 'Export-ModuleMember':
            names = []
            for inner in _walk(node):
                if inner.type in ('verbatim_string_characters', 'string_literal') and inner.parent.type != 'string_literal':
                    names.append(_string(inner))
            return names
    return []


def reachable(start, graph):
    """The functions of GRAPH that START calls, directly or not, START included."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo.extend(graph[name])
    return seen


def raised_classes(source):
    """The error classes a source raises by name: -Class 'x' and -ErrorClass 'x' arguments."""
    return set(re.findall(r"-(?:Class|ErrorClass) '([a-z_]+)'", source))


def all_commands(source):
    """Every command name SOURCE invokes, inside functions or not."""
    return set(_text(node) for node in _walk(parse(source).root_node) if node.type == 'command_name')
