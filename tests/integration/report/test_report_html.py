# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reports as a person sees them, with no lab and no fleet (issue 13, item 4).

One real ansible-playbook run of the report role on localhost: the ECE hosts (svc1, app1, app2, local
connection) and the tenant host carry the observations the judge's unit fixtures build
(tests/unit/plugins/plugin_utils/_checks/observations.py), broken so that the run has a waived failure, a
failure, errors, a warning, skips and passes, in audit mode over two earlier audits. Then:

- the console (default callback): the table prints as plain lines, not a JSON list of quoted strings, and
  the waived failure says so;
- the HTML report opened in headless Chromium (Debian's package): the rendered DOM's matrix labels, a failing
  cell's text, the first failure before any pass, the chart; Chromium's network log holds no http(s) request
  and the page names no external URL in src/href; a screenshot is kept as a test artifact
  (<report dir>/preflight.png, copied to .build/artifacts/report.png).
"""

import html.parser
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
FIXTURES = os.path.join(REPO, 'tests', 'unit', 'plugins', 'plugin_utils', '_checks', 'observations.py')
ARTIFACTS = os.path.join(REPO, '.build', 'artifacts')
WAIVER = {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'change window', 'expires': '2999-01-01'}
BUDGET_SECONDS = 120  # the whole test: one playbook run and two Chromium runs take ~15 s here


def _fixtures():
    spec = importlib.util.spec_from_file_location('report_observations', FIXTURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inventory(fixtures):
    """The fixture's document as the roles leave it in hostvars: ece_o365_observations per ECE host (svc1's 993
    dropped, app1's 587 dropped and its clock 200 s off, app2's url_reach not recorded), the tenant record on
    localhost, ECE's declared facts and the mailboxes in the inventory."""
    document = fixtures.healthy()
    hosts = document['hosts']
    hosts['svc1']['port_probe']['results'][2].update(ok=False, error_class='timeout', message='993 dropped')
    hosts['app1']['port_probe']['results'][1].update(ok=False, error_class='timeout', message='587 dropped')
    hosts['app1']['url_reach']['results'][0]['clock_skew_seconds'] = 200
    hosts['app2']['url_reach'] = None
    for record in (hosts['svc1'], hosts['app1']):  # JMESPath refuses the inventory's (tagged) strings: no query
        record['url_reach']['results'][0]['expect']['assertions'] = []

    def ece_host(record):
        declared = record['ece']
        recorded = ('failed_tasks', 'port_probe', 'url_reach', 'token_refresh')
        return {'ece_o365_observations': dict((k, record[k]) for k in recorded),
                'ece_o365_ece_version': declared['version'], 'ece_o365_ece_installed_es': declared['installed_es'],
                'ece_o365_ece_external_url': declared['external_url'],
                'ece_o365_ece_admin_login_fqdn': declared['admin_login_fqdn'],
                'ece_o365_egress_addresses': declared['egress_addresses']}
    tenant = dict((k, document['tenant'][k]) for k in ('failed_tasks', 'tenant_info', 'mailbox_settings',
                                                       'mailbox_protocols', 'signin_activity', 'read_signins',
                                                       'external_url'))
    return {'all': {
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                 'ece_o365_mailboxes': list(document['mailboxes'].values())},
        'children': {
            'ece_services': {'hosts': {'svc1': ece_host(hosts['svc1'])}},
            'ece_application': {'hosts': {'app1': ece_host(hosts['app1']), 'app2': ece_host(hosts['app2'])}}},
        'hosts': {'localhost': {'ece_o365_tenant_observations': tenant}}}}


PLAYBOOK = """---
- name: The report role on observations prepared in the inventory
  hosts: all
  gather_facts: false
  roles:
    - role: ece_o365.preflight.report
"""


class _Text(html.parser.HTMLParser):
    """The DOM's text in document order, and the matrix's cells (row header, then the cells' text)."""

    def __init__(self):
        super().__init__()
        self.text, self.rows, self._in_matrix, self._cell = [], [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == 'table' and ('class', 'matrix') in attrs:
            self._in_matrix = True
        elif self._in_matrix and tag == 'tr':
            self.rows.append([])
        elif self._in_matrix and tag in ('th', 'td'):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == 'table':
            self._in_matrix = False
        elif self._in_matrix and tag in ('th', 'td') and self._cell is not None:
            self.rows[-1].append(' '.join(''.join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail('no chromium: tools/bootstrap.sh installs Debian\'s chromium package')


def _page_requests(netlog):
    """The http(s) URLs a page asked for, from Chromium's network log: requests whose initiator is an origin
    (a file:// page is the opaque origin 'null'); Chromium's own (time, component update) have 'not an origin'."""
    with open(str(netlog), encoding='utf-8') as handle:
        text = handle.read()
    if not text.rstrip().endswith('}'):  # Chromium may end the log without closing it
        text = text.rstrip().rstrip(',') + ']}'
    log = json.loads(text)
    start = log['constants']['logEventTypes']['URL_REQUEST_START_JOB']
    return sorted(set(event['params']['url'] for event in log['events']
                      if event.get('type') == start and re.match(r'https?://', event['params'].get('url', ''))
                      and event['params'].get('initiator') != 'not an origin'))


def _png_size(path):
    with open(path, 'rb') as handle:
        head = handle.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    return struct.unpack('>II', head[16:24])


def test_the_report_as_a_person_sees_it_console_and_html(tmp_path):
    started = time.monotonic()
    fixtures = _fixtures()
    reports = tmp_path / 'reports'
    (reports / 'history').mkdir(parents=True)
    for day, failures in (('2026-11-26', 3), ('2026-11-27', 1)):  # two earlier audits
        (reports / 'history' / ('preflight-%s.json' % day)).write_text(json.dumps(
            {'summary': {'counts': {'fail': failures, 'error': 0}, 'waived': 0}}))
    (tmp_path / 'inventory.yml').write_text(json.dumps(_inventory(fixtures)))  # JSON is YAML
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    extra = {'ece_o365_report_dir': str(reports), 'ece_o365_waivers': [WAIVER], 'ece_o365_audit': True,
             'ece_o365_report_today': fixtures.TODAY.isoformat()}
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_STDOUT_CALLBACK='default', ANSIBLE_LOCALHOST_WARNING='False')
    for name in ('ANSIBLE_CALLBACKS_ENABLED', 'ANSIBLE_CALLBACK_RESULT_FORMAT', 'ANSIBLE_CONFIG'):
        env.pop(name, None)  # the default callback as a user gets it, without the summary callback
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'inventory.yml',
                          '-e', json.dumps(extra), 'play.yml'], cwd=str(tmp_path), env=env, capture_output=True,
                         text=True, timeout=90, check=False)
    out = run.stdout
    assert run.returncode == 2, out + run.stderr  # the gate fails: app1's 587 and app2's url_reach
    lines = out.splitlines()

    # The console, with the default callback: the table's rows are lines of their own, nothing quoted.
    assert 'ECE OAUTH2 MAIL PREFLIGHT' in out and '"preflight: ' not in out and '" 1. FAIL' not in out
    first = [line for line in lines if re.match(r'^ 1\. ', line)]
    assert first and first[0].startswith(' 1. FAIL  NET-PORT-587') and first[0].endswith(' app1'), out
    waived = [line for line in lines if re.match(r'^ \d\. FAIL  NET-PORT-993 ', line)]
    assert waived and waived[0].endswith('svc1 [waived]'), out
    assert '    waived (change window, expires 2999-01-01)' in lines, out
    summary = [line for line in lines if line.startswith('preflight: ')]
    assert len(summary) == 1 and ', 2 failed (1 waived), 1 warnings, 3 errors, ' in summary[0], out
    assert summary[0].endswith('gate FAILED') and any(line.startswith('reports: ') for line in lines)

    page = (reports / 'preflight.html').read_text(encoding='utf-8')
    # Nothing a browser would fetch: no external URL in src/href (none is allowed: the page links to no
    # documentation), no stylesheet, script, image, frame or CSS url().
    assert not re.search(r'''\b(?:src|href|srcset|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//''', page, re.I)
    assert not re.search(r'<(?:script|link|img|iframe|object|embed)\b|url\(|@import', page, re.I)

    # Headless Chromium: the rendered DOM, then a screenshot; name resolution is switched off and the
    # network log records every request Chromium made.
    chromium = _chromium()
    netlog = tmp_path / 'netlog.json'
    base = [chromium, '--headless', '--disable-gpu', '--no-sandbox', '--no-first-run', '--disable-extensions',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--user-data-dir=%s' % (tmp_path / 'chromium-profile'), '--host-resolver-rules=MAP * ~NOTFOUND']
    url = (reports / 'preflight.html').as_uri()
    dom = subprocess.run(base + ['--log-net-log=%s' % netlog, '--dump-dom', url], capture_output=True, text=True,
                         timeout=60, check=False)
    assert dom.returncode == 0 and '<table class="matrix"' in dom.stdout, dom.stderr[-2000:]
    parsed = _Text()
    parsed.feed(dom.stdout)
    header, first_row = parsed.rows[0], parsed.rows[1]
    assert header == ['Subject', 'preflight', 'network', 'ece', 'identity', 'signins', 'mailbox']
    assert first_row[0] == 'app1 (ECE host)' and first_row[2] == 'FAIL', first_row  # app1's network: 587
    rows = dict((row[0], row[1:]) for row in parsed.rows[1:])
    assert rows['svc1 (ECE host)'][1] == 'FAIL (waived)' and rows['app2 (ECE host)'][1] == 'ERROR'
    assert [name.split(' (')[1] for name in rows] == ['ECE host)'] * 3 + ['tenant)'] + ['mailbox)'] * 2
    text = ' '.join(' '.join(parsed.text).split())
    assert 'ece_o365.preflight 0.' in text and 'inventory ' in text and 'Gate FAILED' in text
    assert 'Failures per day (audit history)' in text and '2026-11-26: 3' in text
    first_failure, first_pass = text.index('NET-PORT-587 '), text.index('PASS NET-')
    assert first_failure < first_pass, 'a pass comes before the first failure'
    assert text.index('waived (change window, expires 2999-01-01)') < first_pass
    assert _page_requests(netlog) == []
    # The check can fail: a page with one external image is caught (Chromium's own background requests, the
    # time and update services, have no page as initiator and are not counted).
    control = tmp_path / 'control.html'
    control.write_text('<!DOCTYPE html><p>x</p><img src="http://images.example.invalid/x.png">')
    subprocess.run(base + ['--log-net-log=%s' % (tmp_path / 'control-netlog.json'), '--dump-dom', control.as_uri()],
                   capture_output=True, timeout=60, check=False)
    assert _page_requests(tmp_path / 'control-netlog.json') == ['http://images.example.invalid/x.png']

    shot = reports / 'preflight.png'
    picture = subprocess.run(base + ['--hide-scrollbars', '--screenshot=%s' % shot, '--window-size=1280,2000', url],
                             capture_output=True, text=True, timeout=60, check=False)
    assert picture.returncode == 0 and shot.exists(), picture.stderr[-2000:]
    assert _png_size(str(shot)) == (1280, 2000) and shot.stat().st_size > 20000  # a page, not a blank
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copy(str(shot), os.path.join(ARTIFACTS, 'report.png'))
    shutil.copy(str(reports / 'preflight.html'), os.path.join(ARTIFACTS, 'report.html'))
    elapsed = time.monotonic() - started
    print('report test: %.1f s, screenshot %s (%d bytes)' % (
        elapsed, os.path.join(ARTIFACTS, 'report.png'), shot.stat().st_size))
    assert elapsed < BUDGET_SECONDS
