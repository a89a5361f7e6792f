// The operator page's fleet sections in a real browser: Debian's chromium (/usr/bin/chromium) driven by
// playwright-core. Logs in, starts a rollout on a cohort through the start form and sees it (state, waves, audit),
// watches a device's download through the HTTP mirror appear in the device table from server-sent events (no
// reload), pauses and resumes, aborts with the keyboard and checks the previous offer is restored for the cohort's
// device logins (over FTP, or through the mirror with the device's Basic credentials when the FTP layer refuses
// device logins), starts again, expands and completes, adds and removes a device login, and fits a phone's width.
// Screenshots go to test-artifacts/ (git-ignored).
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, launchOrSkip, type TestBrowser } from './support/browser.ts';
import { addDevices } from '../server/fleet/devices.ts';
import { ADMIN_PASSWORD, basic, deviceManifest, startHttpRig, type HttpRig } from './support/http-rig.ts';
import { RawFtp, collect } from './support/raw-ftp.ts';

/** Larger than loopback socket buffers, so a device that stops reading stays `downloading`. */
const BIG = 24 * 1024 * 1024;

describe('operator web page: rollout, devices, audit (chromium)', function () {
  this.timeout(120_000);
  let rig: HttpRig | undefined;
  let browser: TestBrowser | undefined;
  let page: Page;
  const vias = new Set<string>();
  let req: http.ClientRequest | undefined; // the device's download, ended in after() if a test failed mid-way

  before(async function () {
    browser = await launchOrSkip(this);
    rig = await startHttpRig();
    const src = path.join(rig.root, '.src');
    await fsp.writeFile(src, Buffer.alloc(3000, 1));
    await rig.app.publisher.importBinary(src, { name: 'OLDPROG' });
    await fsp.writeFile(src, Buffer.alloc(BIG, 2));
    await rig.app.publisher.importBinary(src, { name: 'NEWPROG', offer: false });
    await fsp.rm(src);
    const fleet = rig.app.fleet.fleet!;
    addDevices(fleet.store, rig.root, [
      { login: 'test-01', password: 'pw-test-01', cohort: 'test' }, { login: 'test-02', password: 'pw-test-02', cohort: 'test' },
      { login: 'field-01', password: 'pw-field-01', cohort: 'field' },
    ], 'spec');
    fleet.refresh(true);
    page = browser.context.pages()[0] ?? await browser.context.newPage();
  });
  after(async () => {
    req?.destroy();
    if (vias.size) console.log(`    device offers were read over: ${[...vias].join(', ')}`);
    await browser?.close();
    await rig?.close();
  });

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const status = () => page.locator('#status');
  const row = (login: string) => page.locator(`#devices tr[data-login="${login}"]`);
  const offerOf = async (login: string) => {
    const r = await deviceManifest(rig!, login, `pw-${login}`);
    vias.add(r.via);
    return r.text.split('\n')[0];
  };

  it('logs in and shows the rollout, device and audit sections', async () => {
    await page.goto(rig!.base + '/');
    await page.getByLabel('Admin password').fill(ADMIN_PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('#rollout dd[data-field="Rollout"]', { hasText: 'none' }).waitFor();
    expect(await page.locator('#rollout dd[data-field="Root UPGRADE.TXT"]').textContent()).to.equal('OLDPROG v1');
    await page.locator('#devices-live', { hasText: '(live)' }).waitFor();
    expect(await page.locator('#devices tbody tr').count()).to.equal(3);
    expect(await row('test-01').locator('[data-field="state"]').textContent()).to.equal('never-seen');
    expect(await page.locator('#audit tbody tr').count()).to.be.greaterThan(0);
  });

  it('starts a rollout on the test cohort from the form: state, waves and audit show it, and only that cohort reads it', async () => {
    await page.getByLabel('Release to roll out').selectOption('NEWPROG');
    await page.getByLabel('Cohorts (comma-separated)', { exact: true }).fill('test');
    await page.getByLabel('Pause after failures').fill('5');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await status().filter({ hasText: 'Started: rollout of NEWPROG v1 is active' }).waitFor();
    expect(await page.locator('#rollout dd[data-field="State"]').textContent()).to.equal('active');
    expect(await page.locator('#rollout dd[data-field="Reaches"]').textContent()).to.equal('cohort test + 0%');
    expect(await page.locator('#waves tbody tr').first().locator('td').nth(2).textContent()).to.equal('2');
    expect(await page.locator('#audit tbody tr').first().textContent()).to.match(/web-operator@127\.0\.0\.1.*rollout-start.*NEWPROG v1/);
    expect(await page.locator('#start-form').isHidden()).to.equal(true);
    expect(await page.getByRole('button', { name: 'Resume' }).isDisabled()).to.equal(true);
    expect(await offerOf('test-01')).to.equal('FILE:NEWPROG');
    expect(await offerOf('field-01')).to.equal('FILE:OLDPROG');
    await shot('fleet-1-rollout-started');
  });

  it('shows a device download live in the device table (server-sent events, no reload)', async () => {
    await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42; });
    const got = await fetch(`${rig!.base}/ota/UPGRADE.TXT`, { headers: { authorization: basic('test-02', 'pw-test-02') } });
    expect(await got.text()).to.match(/^FILE:NEWPROG\n/);
    await row('test-02').locator('[data-field="state"]', { hasText: 'offered' }).waitFor();
    // The device starts the binary and stops reading: the row says downloading, with a progress bar.
    req = http.get(`${rig!.base}/ota/NEWPROG`, { headers: { authorization: basic('test-02', 'pw-test-02') } });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => req!.once('response', resolve).once('error', reject));
    expect(res.statusCode).to.equal(200);
    res.pause();
    await row('test-02').locator('[data-field="state"]', { hasText: 'downloading' }).waitFor();
    expect(await row('test-02').locator('progress').getAttribute('max')).to.equal(String(BIG));
    // Progress events carry the bytes handed to the socket so far (more than 0, less than the file: it stopped reading).
    await page.waitForFunction(() => {
      const bar = document.querySelector('#devices tr[data-login="test-02"] progress') as HTMLProgressElement | null;
      return bar !== null && bar.value > 0;
    });
    expect(Number(await row('test-02').locator('progress').getAttribute('value'))).to.be.within(1, BIG - 1);
    expect(await row('test-02').locator('[data-field="download"]').textContent()).to.match(/^NEWPROG v1: in-progress, [1-9]\d* bytes$/);
    await shot('fleet-2-downloading');
    let received = 0;
    res.on('data', (c: Buffer) => { received += c.length; });
    await new Promise((resolve) => { res.once('end', resolve); res.resume(); });
    expect(received).to.equal(BIG);
    await row('test-02').locator('[data-field="state"]', { hasText: 'downloaded' }).waitFor();
    expect(await row('test-02').locator('[data-field="download"]').textContent()).to.equal(`NEWPROG v1: completed, ${BIG} bytes`);
    expect(await row('test-02').locator('progress').getAttribute('value')).to.equal(String(BIG));
    await page.locator('#waves tbody tr', { hasText: 'downloaded 1' }).waitFor(); // the waves' counts follow
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).to.equal(42); // same page: no reload
    await shot('fleet-3-downloaded');
  });

  it('shows a device downloading over FTP live as well (the FTP server records its RETRs for the page)', async () => {
    const ftp = await RawFtp.connect(rig!.ftpPort);
    try {
      // test-02 again (it fetched NEWPROG over HTTP above): the other devices' states are what later tests start from.
      expect((await ftp.login('test-02', 'pw-test-02')).code).to.equal(230);
      expect((await ftp.pasvTransfer('RETR UPGRADE.TXT')).data.toString('latin1')).to.match(/^FILE:NEWPROG\n/);
      // The device starts the binary and stops reading: the transfer stalls once the kernel's buffers are full.
      const data = await ftp.pasv();
      data.pause();
      expect((await ftp.send('RETR NEWPROG')).code).to.equal(150);
      await row('test-02').locator('[data-field="state"]', { hasText: 'downloading' }).waitFor();
      await page.waitForFunction(() => {
        const bar = document.querySelector('#devices tr[data-login="test-02"] progress') as HTMLProgressElement | null;
        return bar !== null && bar.value > 0;
      });
      expect(Number(await row('test-02').locator('progress').getAttribute('value'))).to.be.within(1, BIG - 1);
      expect(await row('test-02').locator('[data-field="download"]').textContent()).to.match(/^NEWPROG v1: in-progress, [1-9]\d* bytes$/);
      const rest = collect(data);
      data.resume();
      expect((await rest).length).to.equal(BIG);
      expect((await ftp.read()).code).to.equal(226);
      await row('test-02').locator('[data-field="state"]', { hasText: 'downloaded' }).waitFor();
      expect(await row('test-02').locator('progress').getAttribute('value')).to.equal(String(BIG));
    } finally {
      ftp.close();
    }
  });

  it('pauses and resumes with the buttons', async () => {
    await page.getByRole('button', { name: 'Pause' }).click();
    await status().filter({ hasText: 'Paused: rollout of NEWPROG v1 is paused (paused by the operator)' }).waitFor();
    expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).to.equal(true);
    expect(await offerOf('test-01')).to.equal('FILE:OLDPROG');
    await page.getByRole('button', { name: 'Resume' }).click();
    await status().filter({ hasText: 'Resumed: rollout of NEWPROG v1 is active' }).waitFor();
    expect(await offerOf('test-01')).to.equal('FILE:NEWPROG');
  });

  it('aborts with the keyboard: the cohort reads the previous offer again, and the start form is back', async () => {
    await page.waitForFunction(() => !(document.getElementById('rollout-abort') as HTMLButtonElement).disabled);
    await page.getByRole('button', { name: /^Abort/ }).focus();
    await page.keyboard.press('Enter');
    await status().filter({ hasText: 'Aborted: rollout of NEWPROG v1 is aborted (aborted by the operator)' }).waitFor();
    expect(await page.locator('#rollout dd[data-field="Last rollout"]').textContent()).to.equal('NEWPROG v1');
    await page.locator('#start-form').waitFor();
    for (const l of ['test-01', 'test-02', 'field-01']) expect(await offerOf(l), l).to.equal('FILE:OLDPROG');
    expect((await rig!.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:OLDPROG\n/);
    expect(await page.locator('#audit tbody tr').first().textContent()).to.match(/rollout-abort/);
    await shot('fleet-4-aborted');
  });

  it('refuses a start the rules refuse, with the server message', async () => {
    await page.locator('#start-name').selectOption('NEWPROG');
    await page.getByLabel('Cohorts (comma-separated)', { exact: true }).fill('');
    await page.getByLabel('Waves', { exact: true }).fill('50%,20%');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.locator('#status.error', { hasText: 'each wave must reach more devices than the one before' }).waitFor();
    await page.getByLabel('Waves', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await page.locator('#status.error', { hasText: 'needs --cohort, --percent or --waves' }).waitFor();
  });

  it('starts again, expands to every device from the form, and completes: the root UPGRADE.TXT names the release', async () => {
    await page.getByLabel('Waves', { exact: true }).fill('');
    await page.getByLabel('Cohorts (comma-separated)', { exact: true }).fill('test');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    await status().filter({ hasText: 'Started: rollout of NEWPROG v1 is active' }).waitFor();
    expect(await offerOf('field-01')).to.equal('FILE:OLDPROG');
    await page.getByLabel('Expand to percent').fill('100%');
    await page.getByRole('button', { name: 'Expand' }).click();
    await status().filter({ hasText: 'Expanded: rollout of NEWPROG v1 is active' }).waitFor();
    expect(await page.locator('#rollout dd[data-field="Reaches"]').textContent()).to.equal('cohort test + 100%');
    expect(await offerOf('field-01')).to.equal('FILE:NEWPROG');
    await page.getByRole('button', { name: /^Complete/ }).click();
    await status().filter({ hasText: 'Completed: rollout of NEWPROG v1 is completed' }).waitFor();
    await page.locator('#offer dd[data-field="FILE"]', { hasText: 'NEWPROG' }).waitFor();
    expect((await rig!.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:NEWPROG\n/);
    expect(await page.locator('#rollout dd[data-field="Root UPGRADE.TXT"]').textContent()).to.equal('NEWPROG v1');
  });

  it('adds a device login from the form (it can log in at once) and removes it (confirmed; it can no longer)', async () => {
    await page.locator('#device-add summary').click();
    await page.getByLabel('Device login', { exact: true }).fill('new-01');
    await page.getByLabel('Device password', { exact: true }).fill('pw-new-01');
    await page.getByLabel('Cohort (optional)').fill('test');
    await page.getByRole('button', { name: 'Add device' }).click();
    await status().filter({ hasText: 'Added the device login new-01 (cohort test).' }).waitFor();
    expect(await row('new-01').locator('td').nth(1).textContent()).to.equal('test');
    expect(await offerOf('new-01')).to.equal('FILE:NEWPROG');
    await row('new-01').locator('[data-field="state"]', { hasText: 'offered' }).waitFor(); // its read, live
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Remove device login new-01' }).click();
    await status().filter({ hasText: 'Removed the device login new-01.' }).waitFor();
    expect(await row('new-01').count()).to.equal(0);
    const res = await fetch(`${rig!.base}/ota/UPGRADE.TXT`, { headers: { authorization: basic('new-01', 'pw-new-01') } });
    expect(res.status).to.equal(401);
    expect(await page.locator('#audit tbody tr').first().textContent()).to.match(/device-remove.*new-01/);
  });

  it('is readable on a phone-sized screen (no horizontal page scroll)', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.reload();
    await page.locator('#devices tbody tr').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).to.be.at.most(0);
    await shot('fleet-5-phone');
    await page.setViewportSize({ width: 1100, height: 900 });
  });
});
