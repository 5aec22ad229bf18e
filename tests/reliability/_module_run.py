# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module as Ansible runs it (its own process, arguments from a JSON file), many at once, and check
what a hostile condition must give: an exit within the case's bound, one JSON result on stdout, no
traceback, changed false, and per target the expected error class with a message that names where
(host:port or the URL), the cause and the fix, in a time (by the module's own account) within the
timeout or deadline it was given.

A spec says what to run for a case: dict(module=..., args=..., where=..., limit=seconds, namespace=None);
the builders at the end make them.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors, _mail

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
PACKAGE = "ansible_collections.ece_o365.preflight.plugins.modules."
# The environment's proxy and CA settings must not leak into a case: each case sets what it tests.
CLEARED = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
           "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
WORKERS = 4  # two cores shared with other test runs: enough overlap for the timeouts, not a stampede


class Run:
    """What one module process did: seconds, stdout, stderr, exit code, and hung (killed at the bound)."""

    def __init__(self, spec, seconds, stdout, stderr, returncode, hung):
        self.spec, self.seconds, self.stdout, self.stderr = spec, seconds, stdout, stderr
        self.returncode, self.hung = returncode, hung

    def result(self):
        """The one JSON object on stdout (AssertionError when there is not exactly one)."""
        text = self.stdout.strip()
        try:
            value, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            raise AssertionError("stdout is not a JSON result: %r (stderr %r)" % (text[-600:], self.stderr[-600:]))
        assert not text[end:].strip(), "more than one JSON document on stdout: %r" % text[end:][:300]
        assert isinstance(value, dict), "the result is not a JSON object: %r" % text[:300]
        return value


def run(spec, bound):
    """Run SPEC's module in a process of its own (in SPEC's network namespace, if any); kill it at BOUND."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": spec["args"]}, handle)
    argv = [sys.executable, "-m", PACKAGE + spec["module"], handle.name]
    if spec.get("namespace"):
        argv = ["ip", "netns", "exec", spec["namespace"]] + argv
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env.update(PYTHONPATH=COLLECTIONS, **spec.get("env", {}))
    started = time.monotonic()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=bound, check=False)
        return Run(spec, time.monotonic() - started, out.stdout, out.stderr, out.returncode, False)
    except subprocess.TimeoutExpired as exc:
        return Run(spec, time.monotonic() - started, _text(exc.stdout), _text(exc.stderr), None, True)
    finally:
        os.unlink(handle.name)


def _text(data):
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


def run_cases(cases, specs):
    """{case id: Run} for CASES, run concurrently; SPECS maps a case id to its spec. With RELIABILITY_TIMINGS
    set to a file name, one line per case (wall seconds, hung) is appended to it, for the numbers."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {case.id: pool.submit(run, specs[case.id], case.bound) for case in cases}
        runs = {case_id: future.result() for case_id, future in futures.items()}
    if os.environ.get("RELIABILITY_TIMINGS"):
        with open(os.environ["RELIABILITY_TIMINGS"], "a", encoding="utf-8") as handle:
            for case_id, outcome in runs.items():
                hung = " HUNG" if outcome.hung else ""
                handle.write("%s %.2f %s%s\n" % (case_id, outcome.seconds, _own_ms(outcome), hung))
    return runs


def run_selected(request, cases, specs, world):
    """run_cases for the CASES this session selected, SPECS mapping each id to spec(WORLD)."""
    chosen = selected(request, cases)
    return run_cases(chosen, {case.id: specs[case.id](world) for case in chosen})


def assert_one_spec_per_case(cases, specs):
    assert sorted(specs) == sorted(case.id for case in cases), "a case without a spec, or a spec without a case"


def _own_ms(outcome):
    """The milliseconds the module says its targets took (for the timings file), or '-'."""
    try:
        return ",".join(str(ms) for _class, _message, ms in targets(outcome.spec["module"], outcome.result()))
    except (AssertionError, KeyError, TypeError):
        return "-"


def selected(request, cases):
    """The CASES this pytest session runs (all of them unless -k or a node id narrowed it)."""
    wanted = {item.callspec.params["case"].id for item in request.session.items
              if hasattr(item, "callspec") and "case" in item.callspec.params}
    return [case for case in cases if case.id in wanted]


def targets(module, result):
    """[(error class, message, milliseconds the module says it took)] per target of a module's result."""
    if module == "url_reach":
        return [(r["error_class"], r["message"], r["timings"]["total_ms"]) for r in result["results"]]
    if module == "port_probe":
        return [(r["error_class"], r["message"], r["elapsed_ms"]) for r in result["results"]]
    if module == "mailbox_protocols":
        return [(r["error_class"], r["message"], r["elapsed_ms"]) for r in result["results"]]
    # token_acquire, tenant_info
    return [(result.get("error_class"), result.get("message"), result.get("elapsed_ms"))]


def check(case, outcome):
    """Assert what CASE promises about OUTCOME (a Run); return the module's result for further checks."""
    spec = outcome.spec
    label = "%s (%s)" % (case.id, spec["module"])
    assert not outcome.hung, "%s did not exit within its bound of %s s: stdout %r stderr %r" % (
        label, case.bound, outcome.stdout[-400:], outcome.stderr[-400:])
    assert outcome.seconds < case.bound, "%s took %.1f s, bound %s s" % (label, outcome.seconds, case.bound)
    for stream, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        assert "Traceback" not in text, "%s printed a traceback on %s: %s" % (label, stream, text[-1500:])
    result = outcome.result()
    assert result.get("changed") is False, "%s: changed is %r" % (label, result.get("changed"))
    assert not result.get("failed"), "%s failed the task: %s" % (label, result.get("msg"))
    found = targets(spec["module"], result)
    assert found, "%s: no per-target result in %s" % (label, result)
    for error_class, message, milliseconds in found:
        if not (milliseconds is None and ": no token: " in (message or "")):  # a login never tried has no time
            assert milliseconds is not None and milliseconds / 1000.0 < spec["limit"] + OWN_MARGIN, \
                "%s: the module took %s ms by its own account, limit %s s + %s s" % (
                    label, milliseconds, spec["limit"], OWN_MARGIN)
        if case.expect == "ok":
            assert error_class is None, "%s: expected success, got %s: %s" % (label, error_class, message)
            continue
        assert error_class == case.expect, "%s: expected %s, got %s: %s" % (label, case.expect, error_class, message)
        assert_clear(message, spec["where"], error_class, label)
    return result


def assert_clear(message, where, error_class, label):
    """MESSAGE names WHERE, says the cause (the class's documented meaning) and a fix."""
    assert message and where in message, "%s: the message does not name %s: %r" % (label, where, message)
    # The cause: the class's documented meaning; for an AADSTS refusal, Microsoft's code and words.
    meaning = "AADSTS" if error_class == "aadsts" else \
        _mail_meaning(error_class) or _errors.ERROR_CLASSES.get(error_class, (None,))[0]
    assert meaning and meaning in message, "%s: the message does not say the cause (%s): %r" % (
        label, meaning, message)
    fix = message.split("Fix: ", 1)
    assert len(fix) == 2 and len(fix[1].strip(" .")) > 10, "%s: the message has no fix: %r" % (label, message)


def _mail_meaning(error_class):
    """A mail class's meaning, held in _mail.MAIL_CLASSES (_errors.ERROR_CLASSES only names it), or None."""
    return (_mail.class_facts(error_class) or (None,))[0]


# -- specs: what to run for a case ------------------------------------------------------------------

TIMEOUT = 2.0  # every probe's own timeout (port_probe timeout, url_reach timeout, token timeout, login_timeout)
# The process bound (Case.bound): the probe's timeout plus a module process's start (Python, ansible, msal,
# requests, cryptography: about 0.5 s idle) on two cores shared with other test runs, seen at 8-14 s under
# a load average of 12-20 (while the module's own account said 20 ms). Generous, so that it catches hangs
# and runaway waits, not slowness; the tight bound is the module's own time (OWN_MARGIN below).
MARGIN = 28.0
BOUND = TIMEOUT + MARGIN
# The module's own account of its time (elapsed_ms, from its start to its result) must stay within the
# limits it was given (spec "limit": its timeout or deadline) plus this: the tight bound, load or not.
OWN_MARGIN = 3.0
CLIENT_ID = "7d3c9a4e-0b1f-4c2d-9e8a-1f2e3d4c5b6a"
SECRET = "rel1ability-Secret~planted"
LOGIN = "support@contoso.example"


def port_probe(host, port, mode, protocol, namespace=None, **settings):
    """port_probe on one target; SETTINGS: ca_path, proxy..."""
    return {"module": "port_probe", "where": "%s:%d" % (host, port), "namespace": namespace, "limit": TIMEOUT,
            "args": dict({"targets": [{"host": host, "port": port, "mode": mode, "protocol": protocol}],
                          "timeout": TIMEOUT}, **settings)}


def url_reach(url, namespace=None, **settings):
    return {"module": "url_reach", "where": url, "namespace": namespace, "limit": TIMEOUT,
            "args": dict({"urls": [{"url": url}], "timeout": TIMEOUT}, **settings)}


def auth(authority, **settings):
    """The shared auth options of the msal modules: ECE's app (client id and a planted secret)."""
    return dict({"authority": authority, "client_id": CLIENT_ID, "client_secret": SECRET, "timeout": TIMEOUT},
                **settings)


def token_acquire(authority, namespace=None, limit=2 * TIMEOUT, **settings):
    """token_acquire: no overall deadline, so its own limit is its two requests' timeouts (discovery, token)."""
    return {"module": "token_acquire", "where": authority, "namespace": namespace, "limit": limit,
            "args": auth(authority, **settings)}


def tenant_info(authority, namespace=None, **settings):
    return {"module": "tenant_info", "where": authority, "namespace": namespace, "limit": 3 * TIMEOUT,
            "args": auth(authority, users=[LOGIN], deadline=3 * TIMEOUT, **settings)}


def mailbox_protocols(host, port, protocol, authority=None, namespace=None, **settings):
    """A login with PROTOCOL to HOST:PORT; with AUTHORITY its token is redeemed there (a planted refresh
    token) and the message must name the authority, else a planted access token is used."""
    mailbox = {"address": LOGIN, "protocols": [protocol]}
    args = dict({"mailboxes": [mailbox], "%s_host" % protocol: host, "%s_port" % protocol: port,
                 "login_timeout": TIMEOUT, "deadline": 3 * TIMEOUT}, **settings)
    if authority:
        args.update(auth(authority), refresh_token="0.planted-refresh-token")
    else:
        mailbox["access_token"] = "planted-access-token"
    return {"module": "mailbox_protocols", "where": authority or "%s:%d" % (host, port), "namespace": namespace,
            "limit": 3 * TIMEOUT if authority else TIMEOUT, "args": args}
