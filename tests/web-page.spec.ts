// The operator page in a real browser: Debian's chromium (/usr/bin/chromium) driven by playwright-core. Logs in,
// finds the offered program, uploads a binary through the page's file input and checks the FTP manifest names it,
// selects an older program and NO_FILE, each checked over FTP. Screenshots go to test-artifacts/ (git-ignored).
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, launchOrSkip, type TestBrowser } from './support/browser.ts';
import { ADMIN_PASSWORD, startHttpRig, type HttpRig } from './support/http-rig.ts';


describe('operator web page (chromium)', function () {
  this.timeout(120_000);
  let rig: HttpRig | undefined;
  let browser: TestBrowser | undefined;
  let page: Page;

  before(async function () {
    browser = await launchOrSkip(this);
    rig = await startHttpRig();
    const src = path.join(rig.root, '.src');
    await fsp.writeFile(src, 'the program devices run today');
    await rig.app.publisher.importBinary(src, { name: 'FIELD01' });
    await fsp.rm(src);
    page = browser.context.pages()[0] ?? await browser.context.newPage();
  });
  after(async () => {
    await browser?.close();
    await rig?.close();
  });

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const ftpManifest = async () => (await rig!.ftpGet('UPGRADE.TXT')).toString();
  const status = () => page.locator('#status');

  it('refuses a wrong password with the server message, then logs in with the keyboard and shows the offered program', async () => {
    await page.goto(rig!.base + '/');
    await page.getByLabel('Admin password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#status.error', { hasText: 'wrong password' }).waitFor();
    await page.getByLabel('Admin password').fill('');
    await page.getByLabel('Admin password').focus();
    await page.keyboard.type(ADMIN_PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('#offer dd[data-field="FILE"]', { hasText: 'FIELD01' }).waitFor();
    expect(await page.locator('#offer dd[data-field="VERSION"]').textContent()).to.equal('1');
    expect(await page.locator('#releases tbody tr').count()).to.equal(1);
    await shot('1-logged-in');
  });

  it('uploads a binary through the file input; the FTP manifest names it', async () => {
    const file = path.join(rig!.root, '.upload-NEWPROG.bin');
    const bytes = Buffer.from(Array.from({ length: 40_000 }, (_, i) => i & 0xff));
    await fsp.writeFile(file, bytes);
    await page.getByLabel('Binary file').setInputFiles(file);
    await page.getByLabel('Program name (7 characters)').fill('NEWPROG');
    await page.getByLabel('Version (empty = next)').fill('4');
    await page.getByRole('button', { name: 'Upload and publish' }).click();
    await status().filter({ hasText: 'Published NEWPROG v4' }).waitFor();
    await page.locator('#offer dd[data-field="FILE"]', { hasText: 'NEWPROG' }).waitFor();
    expect(await ftpManifest()).to.match(/^FILE:NEWPROG\nPATH:\/\nSIZE:40000\nVERSION:4\n/);
    expect((await rig!.ftpGet('NEWPROG')).equals(bytes)).to.equal(true);
    expect(await page.locator('#upload-progress').getAttribute('value')).to.equal('100');
    await shot('2-uploaded');
  });

  it('takes a dropped file: the name is taken from the file name, published with the next VERSION', async () => {
    const dataTransfer = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])], 'DROPPED.bin', { type: 'application/octet-stream' }));
      return dt;
    });
    await page.dispatchEvent('#drop', 'dragover', { dataTransfer });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    expect(await page.getByLabel('Program name (7 characters)').inputValue()).to.equal('DROPPED');
    await page.getByRole('button', { name: 'Upload and publish' }).click();
    await status().filter({ hasText: 'Published DROPPED v1 (8 bytes)' }).waitFor();
    expect(await ftpManifest()).to.match(/^FILE:DROPPED\nPATH:\/\nSIZE:8\nVERSION:1\n/);
  });

  it('shows the server message when the upload breaks a rule (version not higher)', async () => {
    const file = path.join(rig!.root, '.upload-again.bin');
    await fsp.writeFile(file, 'another build');
    await page.getByLabel('Binary file').setInputFiles(file);
    await page.getByLabel('Program name (7 characters)').fill('NEWPROG');
    await page.getByLabel('Version (empty = next)').fill('2');
    await page.getByRole('button', { name: 'Upload and publish' }).click();
    await page.locator('#status.error', { hasText: 'not higher than v4' }).waitFor();
    expect(await ftpManifest()).to.match(/^FILE:DROPPED\n.*VERSION:1\n/s); // unchanged
  });

  it('selects an existing program, then NO_FILE; FTP follows each', async () => {
    await page.getByLabel('Program', { exact: true }).selectOption('FIELD01');
    await page.getByRole('button', { name: 'Offer it' }).click();
    await status().filter({ hasText: 'Devices are offered FIELD01 v1' }).waitFor();
    expect(await ftpManifest()).to.match(/^FILE:FIELD01\n.*VERSION:1\n/s);
    await page.getByRole('button', { name: 'Offer nothing (NO_FILE)' }).click();
    await status().filter({ hasText: 'NO_FILE' }).waitFor();
    expect(await ftpManifest()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
    await page.locator('#offer dd[data-field="FILE"]', { hasText: 'NO_FILE' }).waitFor();
    await shot('3-no-file');
  });

  it('is readable on a phone-sized screen (no horizontal page scroll)', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.reload();
    await page.locator('#offer dd[data-field="FILE"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).to.be.at.most(0);
    await shot('4-phone');
  });
});
