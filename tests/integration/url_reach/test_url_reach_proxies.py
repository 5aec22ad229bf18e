# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""url_reach through real proxies: tinyproxy (HTTP CONNECT, with and without basic auth, from the
arguments and from the environment with NO_PROXY) and mitmproxy, a TLS-intercepting proxy, in front
of a local HTTPS server and of the lab's Entra-like issuer."""

import json

TEST_CA_ISSUER = "O=ece_o365 preflight test CA"
MARGIN = 1.0


def test_through_tinyproxy_from_the_arguments(reach, tinyproxy, https_servers, reach_certs):
    url = "https://127.0.0.1:%d/discovery" % https_servers["good"].port
    outcome, dummy = reach(urls=[{"url": url, "assertions": ["contains(issuer, '444444444444')"]}],
                           proxy=tinyproxy.url, ca_path=reach_certs.ca, expected_issuers=[TEST_CA_ISSUER], timeout=5)

    result = outcome["results"][0]
    assert result["ok"] is True, result["error"]
    assert result["proxy"] == tinyproxy.url
    assert result["timings"]["proxy_tunnel_ms"] is not None
    # A CONNECT proxy passes TLS through: the server's own certificate, not intercepted.
    assert result["intercepted"] is False and result["tls"]["verified"] is True
    assert result["assertions_passed"] is True


def test_proxy_from_the_environment_and_no_proxy(reach, tinyproxy, https_servers, reach_certs):
    url = "https://127.0.0.1:%d/" % https_servers["good"].port
    environ = {"HTTPS_PROXY": tinyproxy.url}
    outcome, dummy = reach(environ=environ, urls=[{"url": url}], ca_path=reach_certs.ca, timeout=5)
    assert outcome["results"][0]["ok"] is True and outcome["results"][0]["proxy"] == tinyproxy.url

    environ["no_proxy"] = "localhost,127.0.0.0/8"
    outcome, dummy = reach(environ=environ, urls=[{"url": url}], ca_path=reach_certs.ca, timeout=5)
    assert outcome["results"][0]["ok"] is True and outcome["results"][0]["proxy"] is None
    assert outcome["results"][0]["timings"]["proxy_tunnel_ms"] is None

    # An explicit empty proxy means none, whatever the environment says.
    outcome, dummy = reach(environ={"HTTPS_PROXY": "http://127.0.0.1:9"}, urls=[{"url": url}], proxy="",
                           ca_path=reach_certs.ca, timeout=5)
    assert outcome["results"][0]["ok"] is True and outcome["results"][0]["proxy"] is None


def test_proxy_that_is_down(reach, refused_port, https_servers):
    proxy = "http://127.0.0.1:%d" % refused_port
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/" % https_servers["good"].port}], proxy=proxy,
                             timeout=2)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy"
    assert "proxy %s" % proxy in result["error"] and "Connection refused" in result["error"]
    assert seconds < 2 + MARGIN


def test_tinyproxy_refusing_the_tunnel_target(reach, tinyproxy, refused_port):
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/" % refused_port}], proxy=tinyproxy.url, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy"
    assert 'the proxy answered "5' in result["error"] and "to CONNECT 127.0.0.1:%d" % refused_port in result["error"]
    assert seconds < 3 + MARGIN


def test_proxy_that_wants_credentials(reach, tinyproxy_auth, https_servers, reach_certs):
    url = "https://127.0.0.1:%d/" % https_servers["good"].port
    outcome, seconds = reach(urls=[{"url": url}], proxy=tinyproxy_auth.url, ca_path=reach_certs.ca, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy"
    assert 'the proxy answered "407 Proxy Authentication Required" to CONNECT 127.0.0.1:%d' % (
        https_servers["good"].port) in result["error"]
    assert "and its credentials" in result["error"]  # the fix names them
    assert seconds < 3 + MARGIN

    user, password = tinyproxy_auth.user, tinyproxy_auth.password
    with_password = "http://%s:%s@127.0.0.1:%d" % (user, password, tinyproxy_auth.port)
    outcome, dummy = reach(urls=[{"url": url}], proxy=with_password, ca_path=reach_certs.ca, timeout=3)
    result = outcome["results"][0]
    assert result["ok"] is True, result["error"]
    assert result["proxy"] == "http://********@127.0.0.1:%d" % tinyproxy_auth.port
    assert password not in json.dumps(outcome) and user + ":" not in json.dumps(outcome)

    wrong = "http://%s:wrong-password@127.0.0.1:%d" % (user, tinyproxy_auth.port)
    outcome, dummy = reach(environ={"https_proxy": wrong}, urls=[{"url": url}], ca_path=reach_certs.ca, timeout=3)
    result = outcome["results"][0]
    # tinyproxy answers a wrong password with 401 Unauthorized (a missing one with 407).
    assert result["error_class"] == "proxy" and 'the proxy answered "401 Unauthorized"' in result["error"]
    assert "wrong-password" not in json.dumps(outcome)


def test_plain_http_through_a_proxy_that_wants_credentials(reach, tinyproxy_auth, https_servers):
    """For http:// URLs the proxy answers the request itself: its 407 is still class proxy."""
    outcome, dummy = reach(urls=[{"url": "http://127.0.0.1:%d/" % https_servers["good"].port}],
                           proxy=tinyproxy_auth.url, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy" and result["status"] == 407
    assert "it wants credentials" in result["error"]


def test_mitmproxy_interception_is_detected(reach, mitmproxy, https_servers, reach_certs):
    """The client trusts the intercepting proxy's CA (as a host whose trust store has the corporate
    inspection CA does): the request works, and only the issuer shows the interception."""
    url = "https://127.0.0.1:%d/discovery" % https_servers["good"].port
    common = dict(urls=[{"url": url, "assertions": ["contains(issuer, '444444444444')"]}],
                  expected_issuers=[TEST_CA_ISSUER], timeout=8)

    outcome, dummy = reach(proxy=mitmproxy.url, ca_path=mitmproxy.ca, **common)
    intercepted = outcome["results"][0]
    assert intercepted["ok"] is True, intercepted["error"]
    assert intercepted["assertions_passed"] is True
    assert intercepted["intercepted"] is True
    assert intercepted["tls"]["certificate"]["issuer_cn"] == "mitmproxy"
    assert intercepted["tls"]["issuer_matched"] is None
    assert outcome["summary"]["intercepted"] == 1

    outcome, dummy = reach(ca_path=reach_certs.ca, **common)
    direct = outcome["results"][0]
    assert direct["ok"] is True and direct["intercepted"] is False
    assert direct["tls"]["issuer_matched"] == "issuer " + TEST_CA_ISSUER


def test_mitmproxy_without_its_ca_is_untrusted_and_still_shows_the_issuer(reach, mitmproxy, https_servers,
                                                                          reach_certs):
    url = "https://127.0.0.1:%d/" % https_servers["good"].port
    outcome, seconds = reach(urls=[{"url": url}], proxy=mitmproxy.url, ca_path=reach_certs.ca,
                             expected_ca_certs=[open(reach_certs.ca).read()], timeout=5)
    result = outcome["results"][0]
    assert result["error_class"] == "cert_untrusted"
    assert "via proxy %s" % mitmproxy.url in result["error"]
    # The refused certificate was fetched through the same proxy: the interception is visible.
    assert result["tls"]["source"] == "observation" and result["tls"]["certificate"]["issuer_cn"] == "mitmproxy"
    assert result["intercepted"] is True
    assert seconds < 5 + MARGIN


def test_mitmproxy_in_front_of_the_lab_issuer(reach, mitmproxy, reach_lab):
    """The lab's OIDC discovery through the intercepting proxy: the assertion on the tenant still
    passes, but the certificate is not issued by the lab's CA."""
    discovery = reach_lab["authority"] + "/v2.0/.well-known/openid-configuration"
    with open(reach_lab["ca"]) as handle:
        lab_ca = handle.read()
    common = dict(urls=[{"url": discovery, "assertions": ["contains(issuer, '%s')" % reach_lab["tenant_id"]]}],
                  expected_ca_certs=[lab_ca], timeout=8)

    outcome, dummy = reach(proxy=mitmproxy.url, ca_path=mitmproxy.ca, **common)
    through = outcome["results"][0]
    assert through["ok"] is True and through["assertions_passed"] is True, through["error"]
    assert through["intercepted"] is True

    outcome, dummy = reach(ca_path=reach_lab["ca"], **common)
    direct = outcome["results"][0]
    assert direct["ok"] is True and direct["intercepted"] is False
    assert direct["tls"]["issuer_matched"].startswith("CA ")
