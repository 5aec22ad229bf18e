# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""url_reach against real local servers: each certificate case, refused, silent, cut and garbage
servers, a slow body, redirects, clock skew, the deadline. Every error case in bounded time."""

import pytest

MARGIN = 1.0  # seconds an error case may take beyond its timeout


@pytest.mark.parametrize("case, host, error_class, detail", [
    ("good", "127.0.0.1", None, None),
    ("good", "localhost", None, None),
    ("expired", "127.0.0.1", "cert_expired", "certificate has expired"),
    ("wrong_host", "127.0.0.1", "cert_hostname", "IP address mismatch"),
    ("wrong_host", "localhost", "cert_hostname", "Hostname mismatch"),
    ("self_signed", "127.0.0.1", "cert_untrusted", "self-signed certificate"),
])
def test_certificate_cases(reach, https_servers, reach_certs, case, host, error_class, detail):
    url = "https://%s:%d/discovery" % (host, https_servers[case].port)
    outcome, seconds = reach(urls=[{"url": url, "purpose": "token_endpoint"}], ca_path=reach_certs.ca, timeout=3)

    result = outcome["results"][0]
    assert result["error_class"] == error_class, result["message"]
    assert result["purpose"] == "token_endpoint"
    assert seconds < 3 + MARGIN
    tls = result["tls"]
    # The certificate is reported whether or not it was accepted.
    assert tls["certificate"]["sha256_fingerprint"].count(":") == 31
    if error_class is None:
        assert result["status"] == 200 and result["ok"] is True
        assert tls["source"] == "connection" and tls["verified"] is True and tls["hostname_matches"] is True
        assert tls["version"] in ("TLSv1.2", "TLSv1.3") and tls["cipher"]
        assert result["message"] is None and "444444444444" in result["json"]["issuer"]
        # The chain's issuers are reported, for the judge to tell an inspecting proxy: here the test CA.
        assert "ece_o365 preflight test CA" in tls["chain"][0]["issuer"]
        assert "intercepted" not in result and "issuer_matched" not in tls
        assert result["timings"]["tcp_ms"] is not None and result["timings"]["tls_ms"] is not None
    else:
        assert result["status"] is None and result["ok"] is False
        assert tls["source"] == "observation" and tls["verified"] is False
        assert result["message"].startswith(url + ": ") and detail in result["message"]
        assert "Fix: " in result["message"] and result["json"] is None
    if case == "expired":
        assert tls["certificate"]["expired"] is True and tls["certificate"]["days_left"] < 0
    if case == "wrong_host":
        assert tls["hostname_matches"] is False and tls["certificate"]["sans"] == ["DNS:wrong.example.invalid"]
    if case == "self_signed":
        assert tls["certificate"]["self_signed"] is True
        assert tls["certificate"]["issuer"] == tls["certificate"]["subject"]


def test_without_the_test_ca_the_good_server_is_untrusted(reach, https_servers):
    outcome, dummy = reach(urls=[{"url": "https://127.0.0.1:%d/" % https_servers["good"].port}], timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "cert_untrusted"
    assert "unable to get local issuer certificate" in result["message"]


def test_validate_certs_false_still_reports_the_certificate(reach, https_servers):
    outcome, dummy = reach(urls=[{"url": "https://127.0.0.1:%d/" % https_servers["expired"].port}],
                           validate_certs=False, timeout=3)
    result = outcome["results"][0]
    assert result["ok"] is True and result["status"] == 200
    assert result["tls"]["verified"] is None and result["tls"]["certificate"]["expired"] is True


def test_refused_in_bounded_time(reach, refused_port):
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/" % refused_port}], timeout=2)
    result = outcome["results"][0]
    assert result["error_class"] == "refused"
    assert result["message"] == ("https://127.0.0.1:%d/: the connection was refused (a RST: nothing listens, or a "
                                 "firewall rejects) (connection refused). Fix: check the port and any firewall between "
                                 "this host and the target." % refused_port)
    assert seconds < 1.0


def test_server_that_never_answers_times_out_in_bounded_time(reach, silent_server):
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/" % silent_server.port}], timeout=1.5)
    result = outcome["results"][0]
    assert result["error_class"] == "timeout"
    assert "no answer in 1.5 s while in the TLS handshake" in result["message"]
    assert 1.4 < seconds < 1.5 + MARGIN


def test_plain_http_server_that_never_answers(reach, silent_server):
    outcome, seconds = reach(urls=[{"url": "http://127.0.0.1:%d/" % silent_server.port}], timeout=1)
    assert outcome["results"][0]["error_class"] == "timeout"
    assert "waiting for the response" in outcome["results"][0]["message"]
    assert seconds < 1 + MARGIN


def test_slow_body_is_bounded_by_the_url_timeout(reach, https_servers, reach_certs):
    """Headers at once, then a byte every 0.3 s: no single read times out, the URL's timeout does."""
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/drip" % https_servers["good"].port}],
                             ca_path=reach_certs.ca, timeout=1.5)
    result = outcome["results"][0]
    assert result["error_class"] == "timeout"
    assert "reading the body" in result["message"]
    assert result["status"] == 200  # what was seen before the time ran out is kept
    assert seconds < 1.5 + MARGIN


def test_handshake_cut_short(reach, closing_server):
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/" % closing_server.port}], timeout=2)
    result = outcome["results"][0]
    assert result["error_class"] in ("tls_handshake", "reset"), result["message"]
    assert seconds < 2 + MARGIN


def test_garbage_instead_of_http(reach, garbage_server):
    outcome, seconds = reach(urls=[{"url": "http://127.0.0.1:%d/" % garbage_server.port}], timeout=2)
    result = outcome["results"][0]
    assert result["error_class"] == "protocol", result["message"]
    assert seconds < 2 + MARGIN


def test_clock_skew_against_a_server_ten_minutes_ahead(reach, https_servers, reach_certs):
    outcome, dummy = reach(urls=[{"url": "https://127.0.0.1:%d/" % https_servers["skewed"].port},
                                 {"url": "https://127.0.0.1:%d/" % https_servers["good"].port}],
                           ca_path=reach_certs.ca, timeout=3)
    skewed, good = outcome["results"]
    # This host is 600 s behind the skewed server: negative, within the Date header's one-second resolution.
    assert -601.5 <= skewed["clock_skew_seconds"] <= -598.5
    assert abs(good["clock_skew_seconds"]) <= 1.5
    assert skewed["server_date"].endswith(" GMT") and skewed["server_time"].endswith("Z")


def test_redirect_and_methods(reach, https_servers, reach_certs):
    port = https_servers["good"].port
    outcome, dummy = reach(urls=[
        {"url": "https://127.0.0.1:%d/redirect" % port, "expect": {"assertions": ["contains(issuer, '444444444444')"]}},
        {"url": "https://127.0.0.1:%d/redirect" % port, "follow_redirects": False, "expect": {"status": [302]}},
        {"url": "https://127.0.0.1:%d/" % port, "method": "HEAD"},
        {"url": "https://127.0.0.1:%d/" % port, "method": "OPTIONS"},
    ], ca_path=reach_certs.ca, timeout=3)
    followed, kept, head, options = outcome["results"]
    assert followed["ok"] is True and followed["final_url"] == "https://127.0.0.1:%d/discovery" % port
    assert followed["redirects"] == [{"status": 302, "url": "https://127.0.0.1:%d/discovery" % port}]
    assert "444444444444" in followed["json"]["issuer"]
    assert followed["expect"] == {"assertions": ["contains(issuer, '444444444444')"]}
    assert kept["ok"] is True and kept["status"] == 302 and kept["redirects"] == []
    assert kept["expect"] == {"status": [302]}
    assert head["ok"] is True and head["body_bytes"] is None and head["method"] == "HEAD" and head["json"] is None
    assert options["ok"] is True and options["method"] == "OPTIONS"


def test_many_urls_concurrently_within_the_deadline(reach, https_servers, reach_certs, silent_server, refused_port):
    """Twenty silent URLs with a 1 s timeout, six workers: the deadline (2 s) cuts the call, every URL has a result."""
    urls = [{"url": "https://127.0.0.1:%d/%d" % (silent_server.port, i)} for i in range(20)]
    urls.append({"url": "https://127.0.0.1:%d/" % refused_port})
    outcome, seconds = reach(urls=urls, timeout=1, deadline=2, max_workers=6, ca_path=reach_certs.ca)

    classes = [r["error_class"] for r in outcome["results"]]
    assert len(classes) == 21
    assert set(classes) <= {"timeout", "deadline", "refused"}
    assert classes.count("timeout") >= 6 and "deadline" in classes
    assert outcome["summary"]["deadline_reached"] is True
    assert seconds < 2 + MARGIN
