# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""port_probe against real servers: each case gets its own error class, in bounded time."""

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(REPO, ".build", "collections")


def probe(targets, timeout=3.0, deadline=30.0, environ=None, **settings):
    resolved = [_probe.resolve_target(dict(t), timeout) for t in targets]
    for index, target in enumerate(resolved):
        assert _probe.validate_target(index, target) is None
    return _probe.probe_all(resolved, settings, environ or {}, deadline, 32)


def one(target, **kwargs):
    started = time.monotonic()
    result = probe([target], **kwargs)[0]
    result["_seconds"] = time.monotonic() - started
    return result


def test_lab_mail_ports_offer_xoauth2_over_tls(lab):
    ports = lab["ports"]
    imap, pop3, smtp = probe([
        {"host": "127.0.0.1", "port": ports["imaps"], "mode": "tls", "protocol": "imap", "purpose": "imap"},
        {"host": "127.0.0.1", "port": ports["pop3s"], "mode": "tls", "protocol": "pop3", "purpose": "pop3"},
        {"host": "127.0.0.1", "port": ports["submission"], "mode": "starttls", "protocol": "smtp",
         "server_name": "smtp.office365.com", "purpose": "smtp_submission"},
    ], ca_path=lab["ca"])
    assert [r["purpose"] for r in (imap, pop3, smtp)] == ["imap", "pop3", "smtp_submission"]
    for result in (imap, pop3, smtp):
        assert result["ok"], result["message"]
        assert result["error_class"] is None and result["message"] is None
        assert "XOAUTH2" in result["auth_mechanisms"]
        assert result["tls"]["verified"] is True and result["tls"]["hostname_match"] is True
        assert result["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
        assert set(result["timings"]) >= {"dns_ms", "connect_ms", "tls_ms"}
    assert imap["banner"].endswith("The Microsoft Exchange IMAP4 service is ready.")
    assert smtp["starttls_offered"] is True and "STARTTLS" in smtp["capabilities_before_tls"]
    assert "STARTTLS" not in smtp["capabilities"], "after STARTTLS the server no longer offers it"
    assert smtp["tls"]["server_name"] == "smtp.office365.com" and "starttls_ms" in smtp["timings"]


def test_starttls_on_an_implicit_tls_port_is_a_protocol_error(lab):
    result = one({"host": "127.0.0.1", "port": lab["ports"]["imaps"], "mode": "starttls", "protocol": "imap"},
                 ca_path=lab["ca"])
    assert result["error_class"] in ("protocol", "reset", "timeout") and result["_seconds"] < 4


@pytest.mark.parametrize("case, ca, server_name, error", [
    ("good", True, None, None),
    ("good", True, "outlook.office365.com", None),
    ("good", False, None, "cert_untrusted"),
    ("good", True, "graph.microsoft.com", "cert_hostname"),
    ("expired", True, None, "cert_expired"),
    ("wrong_host", True, None, "cert_hostname"),
    ("self_signed", True, None, "cert_untrusted"),
])
def test_certificate_cases(tls_servers, certs, case, ca, server_name, error):
    target = {"host": "127.0.0.1", "port": tls_servers[case], "mode": "tls", "protocol": "https"}
    if server_name:
        target["server_name"] = server_name
    result = one(target, ca_path=certs.ca if ca else None)
    assert result["error_class"] == error, result["message"]
    certificate = result["tls"]["certificate"]
    assert certificate is not None, "the certificate is reported even when it fails"
    assert result["tls"]["verified"] is (error in (None, "cert_hostname"))
    if case == "expired":
        assert certificate["expired"] is True and certificate["days_left"] < 0
    if case == "self_signed":
        assert certificate["self_signed"] is True
    if error == "cert_hostname":
        assert result["tls"]["hostname_match"] is False and "Fix:" in result["message"]
    assert result["_seconds"] < 2


@pytest.mark.parametrize("server, target, error, bound", [
    ("slow_banner", {"mode": "tcp", "protocol": "smtp"}, "timeout", 3.5),
    ("garbage", {"mode": "tcp", "protocol": "imap"}, "protocol", 2),
    ("endless_capabilities", {"mode": "tcp", "protocol": "imap"}, "protocol", 2),
    ("tls_cut_midway", {"mode": "tls", "protocol": "none"}, "tls_handshake", 2),
    ("starttls_refused", {"mode": "starttls", "protocol": "smtp"}, "starttls_unsupported", 2),
    ("starttls_absent", {"mode": "starttls", "protocol": "smtp"}, "starttls_unsupported", 2),
    ("silent", {"mode": "tls", "protocol": "none"}, "timeout", 3.5),
    ("silent", {"mode": "tcp", "protocol": "pop3"}, "timeout", 3.5),
])
def test_misbehaving_servers(hostile, server, target, error, bound):
    result = one(dict(target, host="127.0.0.1", port=hostile[server]), timeout=3)
    assert result["error_class"] == error, result["message"]
    assert result["_seconds"] < bound
    assert result["message"].startswith("127.0.0.1:%d: " % hostile[server])


def test_refused_and_dns():
    refused, dns = probe([{"host": "127.0.0.1", "port": 9, "mode": "tcp"},
                          {"host": "no-such-host.invalid", "port": 443}])
    assert refused["error_class"] == "refused" and dns["error_class"] == "dns"


def test_localhost_reports_every_address():
    result = one({"host": "localhost", "port": 9, "mode": "tcp"})
    assert "127.0.0.1" in result["addresses"] and result["error_class"] == "refused"


def test_https_through_a_connect_proxy(proxies, tls_servers, certs):
    target = {"host": "127.0.0.1", "port": tls_servers["good"], "mode": "tls", "protocol": "https"}
    via = one(target, ca_path=certs.ca, proxy="http://127.0.0.1:%d" % proxies["open"])
    assert via["ok"], via["message"]
    assert via["proxy"] == "http://127.0.0.1:%d" % proxies["open"] and "proxy_ms" in via["timings"]
    assert via["addresses"] == [], "through a proxy the proxy resolves the name"
    from_env = one(target, ca_path=certs.ca, environ={"HTTPS_PROXY": "http://127.0.0.1:%d" % proxies["open"]})
    assert from_env["proxy"] and from_env["ok"]
    environ = {"HTTPS_PROXY": "http://127.0.0.1:%d" % proxies["open"], "NO_PROXY": "127.0.0.0/8"}
    bypass = one(target, ca_path=certs.ca, environ=environ)
    assert bypass["proxy"] is None and bypass["ok"]


def test_proxy_refusals_are_class_proxy(proxies, tls_servers, certs):
    target = {"host": "127.0.0.1", "port": tls_servers["good"], "mode": "tls", "protocol": "https"}
    needs_auth = one(target, ca_path=certs.ca, proxy="http://127.0.0.1:%d" % proxies["auth"])
    assert needs_auth["error_class"] == "proxy" and "407" in needs_auth["message"]
    assert "proxy http://127.0.0.1:%d: " % proxies["auth"] in needs_auth["message"]
    secret = "pr0xy-pass"
    authed = one(target, ca_path=certs.ca, proxy="http://ece:%s@127.0.0.1:%d" % (secret, proxies["auth"]))
    assert authed["ok"], authed["message"]
    assert secret not in json.dumps(authed)
    assert authed["proxy"] == "http://ece:********@127.0.0.1:%d" % proxies["auth"]
    port_rule = one(target, ca_path=certs.ca, proxy="http://127.0.0.1:%d" % proxies["port443"])
    assert port_rule["error_class"] == "proxy" and "403" in port_rule["message"]


def test_a_proxy_that_cannot_be_reached_is_named_as_the_cause(tls_servers, certs):
    """Not the target: login.microsoftonline.com is never blamed when the proxy's own name or port fails."""
    target = {"host": "login.microsoftonline.com", "port": 443, "purpose": "token_endpoint"}
    nowhere = one(target, proxy="http://ece:Pl4nted@proxy.preflight-lab.invalid:3128")
    assert nowhere["error_class"] == "proxy_dns", nowhere["message"]
    assert "the proxy's own name does not resolve" in nowhere["message"]
    assert "proxy http://ece:********@proxy.preflight-lab.invalid:3128: cannot resolve" in nowhere["message"]
    assert "Pl4nted" not in json.dumps(nowhere) and nowhere["_seconds"] < 4

    closed = one(target, environ={"https_proxy": "http://127.0.0.1:9"})
    assert closed["error_class"] == "proxy_unreachable", closed["message"]
    assert closed["message"].startswith("login.microsoftonline.com:443: the proxy refused or did not answer")
    assert "proxy http://127.0.0.1:9: 127.0.0.1:9: Connection refused" in closed["message"]
    assert closed["proxy"] == "http://127.0.0.1:9" and closed["purpose"] == "token_endpoint"


def test_deadline_bounds_the_whole_call(hostile):
    targets = [{"host": "127.0.0.1", "port": hostile["silent"], "mode": "tls", "name": "silent-%d" % i}
               for i in range(5)]
    started = time.monotonic()
    results = probe(targets, timeout=10, deadline=1.0)
    assert [r["purpose"] for r in results] == ["extra"] * 5
    assert time.monotonic() - started < 2
    assert [r["error_class"] for r in results] == ["deadline"] * 5
    assert [r["name"] for r in results] == ["silent-%d" % i for i in range(5)]


def _module_in_namespace(namespace, args):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    try:
        out = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-m",
                              "ansible_collections.ece_o365.preflight.plugins.modules.port_probe", handle.name],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    finally:
        os.unlink(handle.name)
    return json.loads(out.stdout)


def test_dropped_and_refused_across_a_real_network(netns):
    namespace, address = netns
    targets = [{"host": address, "port": 993 if i % 2 else 995, "mode": "tcp", "name": "t%d" % i}
               for i in range(40)]
    started = time.monotonic()
    result = _module_in_namespace(namespace, {"targets": targets, "timeout": 2})
    seconds = time.monotonic() - started
    errors = [r["error_class"] for r in result["results"]]
    assert errors.count("timeout") == 20 and errors.count("refused") == 20
    assert result["summary"]["errors"] == {"timeout": 20, "refused": 20}
    # One call, about 2 s of probing plus a module process's start; a loop of 40 would take 40 s or more.
    # The margin is for a loaded 2-core machine (4.5 s flaked at a load average of 12).
    assert seconds < 8, "40 targets, 20 dropped, timeout 2 s: one call, about 2 s"
    assert result["changed"] is False


def test_through_ansible_playbook_in_check_mode(lab, tmp_path):
    playbook = tmp_path / "probe.yml"
    playbook.write_text("""
- name: Probe the lab's mail ports
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Probe
      ece_o365.preflight.port_probe:
        ca_path: %(ca)s
        proxy: http://ece:PlantedProxySecret@127.0.0.1:9
        no_proxy: localhost,127.0.0.2
        targets:
          - {host: 127.0.0.1, port: %(imaps)d, mode: tls, protocol: imap, purpose: imap}
          - {host: 127.0.0.1, port: %(submission)d, mode: starttls, protocol: smtp, purpose: smtp_submission}
          - {host: 127.0.0.1, port: %(imaps)d, mode: tls, protocol: imap, proxy: true}
      register: probe
    - name: Check
      ansible.builtin.assert:
        that:
          - probe is not changed
          - probe.summary.ok == 2
          - "'XOAUTH2' in probe.results[1].auth_mechanisms"
          - probe.results | map(attribute='purpose') | list == ['imap', 'smtp_submission', 'extra']
          - probe.results[2].error_class == 'proxy_unreachable'
          - probe.results[2].proxy == 'http://ece:********@127.0.0.1:9'
""" % dict(lab["ports"], ca=lab["ca"]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--check", "-vvvv",
                          "-c", "local", "-i", "localhost,", str(playbook)],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "ok=2" in out.stdout and "changed=0" in out.stdout
    assert "PlantedProxySecret" not in out.stdout + out.stderr
