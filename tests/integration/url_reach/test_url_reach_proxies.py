# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""url_reach through real proxies: tinyproxy (HTTP CONNECT, with and without basic auth, from the
arguments and from the environment with NO_PROXY) and mitmproxy, a TLS-intercepting proxy, in front
of a local HTTPS server and of the lab's Entra-like issuer. url_reach reports what it was shown (the
chain's issuers); whether that is an interception is the judge's."""

import json

TEST_CA = "ece_o365 preflight test CA"
MARGIN = 1.0


def test_through_tinyproxy_from_the_arguments(reach, tinyproxy, https_servers, reach_certs):
    url = "https://127.0.0.1:%d/discovery" % https_servers["good"].port
    outcome, dummy = reach(urls=[{"url": url}], proxy=tinyproxy.url, ca_path=reach_certs.ca, timeout=5)

    result = outcome["results"][0]
    assert result["ok"] is True, result["message"]
    assert result["proxy"] == tinyproxy.url
    assert result["timings"]["proxy_tunnel_ms"] is not None
    # A CONNECT proxy passes TLS through: the server's own certificate, issued by the test CA.
    assert TEST_CA in result["tls"]["certificate"]["issuer"] and result["tls"]["verified"] is True
    assert "444444444444" in result["json"]["issuer"]


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


def test_proxy_that_is_down_is_named_as_the_cause(reach, refused_port, https_servers):
    proxy = "http://ece:Pl4nted@127.0.0.1:%d" % refused_port
    url = "https://127.0.0.1:%d/" % https_servers["good"].port
    outcome, seconds = reach(urls=[{"url": url}], proxy=proxy, timeout=2)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy_unreachable", result["message"]
    assert result["message"].startswith(url + ": the proxy refused or did not answer the TCP connection")
    assert "proxy http://ece:********@127.0.0.1:%d" % refused_port in result["message"]
    assert "Connection refused" in result["message"] and "Pl4nted" not in json.dumps(outcome)
    assert seconds < 2 + MARGIN


def test_proxy_whose_name_does_not_resolve_is_named_as_the_cause(reach, https_servers):
    url = "https://login.microsoftonline.com/"
    outcome, seconds = reach(urls=[{"url": url, "purpose": "token_endpoint"}],
                             environ={"https_proxy": "http://ece:Pl4nted@proxy.preflight-lab.invalid:3128"}, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy_dns", result["message"]
    assert result["message"].startswith(url + ": the proxy's own name does not resolve")
    assert "proxy http://ece:********@proxy.preflight-lab.invalid:3128: cannot resolve its name" in result["message"]
    assert result["proxy"] == "http://ece:********@proxy.preflight-lab.invalid:3128"
    assert "Pl4nted" not in json.dumps(outcome) and seconds < 3 + MARGIN


def test_tinyproxy_refusing_the_tunnel_target(reach, tinyproxy, refused_port):
    outcome, seconds = reach(urls=[{"url": "https://127.0.0.1:%d/" % refused_port}], proxy=tinyproxy.url, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy"
    assert 'the proxy answered "5' in result["message"] and "to CONNECT 127.0.0.1:%d" % refused_port in result["message"]
    assert seconds < 3 + MARGIN


def test_proxy_that_wants_credentials(reach, tinyproxy_auth, https_servers, reach_certs):
    url = "https://127.0.0.1:%d/" % https_servers["good"].port
    outcome, seconds = reach(urls=[{"url": url}], proxy=tinyproxy_auth.url, ca_path=reach_certs.ca, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy"
    assert 'the proxy answered "407 Proxy Authentication Required" to CONNECT 127.0.0.1:%d' % (
        https_servers["good"].port) in result["message"]
    assert "and its credentials" in result["message"]  # the fix names them
    assert seconds < 3 + MARGIN

    user, password = tinyproxy_auth.user, tinyproxy_auth.password
    with_password = "http://%s:%s@127.0.0.1:%d" % (user, password, tinyproxy_auth.port)
    outcome, dummy = reach(urls=[{"url": url}], proxy=with_password, ca_path=reach_certs.ca, timeout=3)
    result = outcome["results"][0]
    assert result["ok"] is True, result["message"]
    # Only the password is hidden: the user shows which credentials were sent.
    assert result["proxy"] == "http://%s:********@127.0.0.1:%d" % (user, tinyproxy_auth.port)
    assert password not in json.dumps(outcome)

    wrong = "http://%s:wrong-password@127.0.0.1:%d" % (user, tinyproxy_auth.port)
    outcome, dummy = reach(environ={"https_proxy": wrong}, urls=[{"url": url}], ca_path=reach_certs.ca, timeout=3)
    result = outcome["results"][0]
    # tinyproxy answers a wrong password with 401 Unauthorized (a missing one with 407).
    assert result["error_class"] == "proxy" and 'the proxy answered "401 Unauthorized"' in result["message"]
    assert "wrong-password" not in json.dumps(outcome)


def test_plain_http_through_a_proxy_that_wants_credentials(reach, tinyproxy_auth, https_servers):
    """For http:// URLs the proxy answers the request itself: its 407 is still class proxy."""
    outcome, dummy = reach(urls=[{"url": "http://127.0.0.1:%d/" % https_servers["good"].port}],
                           proxy=tinyproxy_auth.url, timeout=3)
    result = outcome["results"][0]
    assert result["error_class"] == "proxy" and result["status"] == 407
    assert "it wants credentials" in result["message"]


def test_mitmproxy_interception_shows_in_the_chain(reach, mitmproxy, https_servers, reach_certs):
    """The client trusts the intercepting proxy's CA (as a host whose trust store has the corporate
    inspection CA does): the request works, and only the issuer shows the interception, for the judge."""
    url = "https://127.0.0.1:%d/discovery" % https_servers["good"].port
    expect = {"status": [200], "assertions": ["contains(issuer, '444444444444')"]}
    common = dict(urls=[{"url": url, "expect": expect}], timeout=8)

    outcome, dummy = reach(proxy=mitmproxy.url, ca_path=mitmproxy.ca, **common)
    intercepted = outcome["results"][0]
    assert intercepted["ok"] is True, intercepted["message"]
    assert intercepted["expect"] == expect and "444444444444" in intercepted["json"]["issuer"]
    assert intercepted["tls"]["certificate"]["issuer_cn"] == "mitmproxy"
    assert "mitmproxy" in intercepted["tls"]["chain"][0]["issuer"]
    assert "intercepted" not in intercepted and "intercepted" not in outcome["summary"]

    outcome, dummy = reach(ca_path=reach_certs.ca, **common)
    direct = outcome["results"][0]
    assert direct["ok"] is True and TEST_CA in direct["tls"]["chain"][0]["issuer"]


def test_mitmproxy_without_its_ca_is_untrusted_and_still_shows_the_issuer(reach, mitmproxy, https_servers,
                                                                          reach_certs):
    url = "https://127.0.0.1:%d/" % https_servers["good"].port
    outcome, seconds = reach(urls=[{"url": url}], proxy=mitmproxy.url, ca_path=reach_certs.ca, timeout=5)
    result = outcome["results"][0]
    assert result["error_class"] == "cert_untrusted"
    assert "via proxy %s" % mitmproxy.url in result["message"]
    # The refused certificate was fetched through the same proxy: the interception is visible.
    assert result["tls"]["source"] == "observation" and result["tls"]["certificate"]["issuer_cn"] == "mitmproxy"
    assert result["tls"]["verified"] is False
    assert seconds < 5 + MARGIN


def test_mitmproxy_in_front_of_the_lab_issuer(reach, mitmproxy, reach_lab):
    """The lab's OIDC discovery through the intercepting proxy: the body still names the tenant, but the
    certificate is not issued by the lab's CA."""
    discovery = reach_lab["authority"] + "/v2.0/.well-known/openid-configuration"
    common = dict(urls=[{"url": discovery, "purpose": "oidc_discovery"}], timeout=8)

    outcome, dummy = reach(proxy=mitmproxy.url, ca_path=mitmproxy.ca, **common)
    through = outcome["results"][0]
    assert through["ok"] is True, through["message"]
    assert reach_lab["tenant_id"] in through["json"]["issuer"]
    assert through["tls"]["certificate"]["issuer_cn"] == "mitmproxy"

    outcome, dummy = reach(ca_path=reach_lab["ca"], **common)
    direct = outcome["results"][0]
    assert direct["ok"] is True and direct["tls"]["certificate"]["issuer_cn"] != "mitmproxy"
    assert direct["json"]["issuer"] == through["json"]["issuer"]
