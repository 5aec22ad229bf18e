# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""url_reach against the lab's Entra-like issuer: JMESPath assertions on its real OIDC discovery
document, its keys, Graph's refusal without a token."""


def test_oidc_discovery_issuer_names_the_tenant(reach, reach_lab):
    tenant = reach_lab["tenant_id"]
    discovery = reach_lab["authority"] + "/v2.0/.well-known/openid-configuration"
    outcome, dummy = reach(urls=[
        {"name": "discovery", "url": discovery, "assertions": [
            "contains(issuer, '%s')" % tenant,
            {"query": "issuer", "equals": reach_lab["issuer"]},
            "contains(token_endpoint, '%s')" % tenant,
            "contains(response_types_supported, 'code')",
        ]},
        {"name": "another tenant", "url": discovery, "assertions": ["contains(issuer, '00000000-dead-beef')"]},
        {"name": "keys", "url": reach_lab["authority"] + "/discovery/v2.0/keys", "assertions": ["length(keys) > `0`"]},
        {"name": "graph without a token", "url": reach_lab["graph_url"] + "/v1.0/users", "status_code": [401]},
    ], ca_path=reach_lab["ca"], timeout=5)

    discovered, wrong, keys, graph = outcome["results"]
    assert discovered["ok"] is True and discovered["assertions_passed"] is True, discovered["error"]
    assert [a["passed"] for a in discovered["assertions"]] == [True] * 4
    assert discovered["assertions"][1]["value"] == reach_lab["issuer"]
    assert discovered["tls"]["verified"] is True and abs(discovered["clock_skew_seconds"]) < 2

    assert wrong["error_class"] == "assertion" and wrong["assertions_passed"] is False
    assert wrong["assertions"][0]["value"] is False
    assert "1 of 1 failed; first: contains(issuer, '00000000-dead-beef') gave false" in wrong["error"]
    assert wrong["body_excerpt"].startswith("{")

    assert keys["ok"] is True, keys["error"]
    assert graph["ok"] is True and graph["status"] == 401
    assert outcome["summary"]["by_class"] == {"assertion": 1}
