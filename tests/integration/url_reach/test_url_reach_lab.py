# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""url_reach against the lab's Entra-like issuer: its real OIDC discovery document parsed as JSON,
its keys, Graph's refusal without a token. The expectations travel unchanged for the judge."""


def test_oidc_discovery_is_returned_parsed_with_its_expectations(reach, reach_lab):
    tenant = reach_lab["tenant_id"]
    discovery = reach_lab["authority"] + "/v2.0/.well-known/openid-configuration"
    expect = {"status": [200], "assertions": ["contains(issuer, '%s')" % tenant, "contains(token_endpoint, '%s')"
                                              % tenant]}
    outcome, dummy = reach(urls=[
        {"name": "discovery", "url": discovery, "purpose": "oidc_discovery", "expect": expect},
        {"name": "another tenant", "url": discovery, "expect": {"assertions": ["contains(issuer, '00000000-dead')"]}},
        {"name": "keys", "url": reach_lab["authority"] + "/discovery/v2.0/keys"},
        {"name": "graph without a token", "url": reach_lab["graph_url"] + "/v1.0/users", "expect": {"status": [401]}},
    ], ca_path=reach_lab["ca"], timeout=5)

    discovered, wrong, keys, graph = outcome["results"]
    assert discovered["ok"] is True, discovered["message"]
    assert discovered["purpose"] == "oidc_discovery" and discovered["expect"] == expect
    assert discovered["json"]["issuer"] == reach_lab["issuer"] and tenant in discovered["json"]["token_endpoint"]
    assert "code" in discovered["json"]["response_types_supported"]
    assert discovered["tls"]["verified"] is True and abs(discovered["clock_skew_seconds"]) < 2

    # An assertion that would not hold is not evaluated here: the URL answered, which is all url_reach says.
    assert wrong["ok"] is True and wrong["error_class"] is None and wrong["message"] is None
    assert wrong["json"] == discovered["json"]

    assert keys["ok"] is True and len(keys["json"]["keys"]) > 0, keys["message"]
    assert graph["ok"] is True and graph["status"] == 401 and graph["expect"] == {"status": [401]}
    assert outcome["summary"]["by_class"] == {} and outcome["summary"]["ok"] == 4
