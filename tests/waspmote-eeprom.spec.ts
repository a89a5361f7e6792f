import { expect } from 'chai';
import { WaspmoteDevice, MAX_PROGRAM_BYTES } from '../client-sim/waspmote/device.ts';
import { EE } from '../client-sim/waspmote/eeprom.ts';
import { SdCard, sdName } from '../client-sim/waspmote/sd.ts';

describe('waspmote EEPROM hand-off and checkNewProgram (WaspUtils.cpp loadOTA/checkNewProgram)', () => {
  it('a device that has not been updated starts normally: checkNewProgram() == 2', () => {
    const d = new WaspmoteDevice({ programId: 'OTA_APP', version: 4 });
    expect(d.programId()).to.equal('OTA_APP');
    expect(d.programVersion()).to.equal(4);
    expect(d.checkNewProgram()).to.equal(2);
  });

  it('loadOTA writes PID with * padding, flag, retries, version and backup; the bootloader flashes; result 1', () => {
    const d = new WaspmoteDevice({ programId: 'OTA_APP', version: 4 });
    const image = Buffer.from('binary image bytes');
    d.sd.put('NEWPROG', image);
    d.loadOTA('NEWPROG', 9);
    const e = d.eeprom;
    expect(e.field(EE.PID).toString('latin1')).to.equal('NEWPROG' + '*'.repeat(25));
    expect(e.retries()).to.equal(3);
    expect(e.otaFlag()).to.equal(0, 'main.cpp clears EEPROM[1] after moving the flag to RAM');
    expect(e.version()).to.equal(9);
    expect(e.versionBackup()).to.equal(4);
    expect(e.currentId()).to.equal('NEWPROG');
    expect(d.flash?.equals(image)).to.equal(true);
    expect(d.checkNewProgram()).to.equal(1);
    expect(e.versionBackup()).to.equal(9);
    expect(e.lastStableId()).to.equal('NEWPROG');
    expect(d.programId()).to.equal('NEWPROG');
  });

  it('a missing or oversized SD file leaves the CID: result 0 and the version is restored', () => {
    for (const setup of [(_d: WaspmoteDevice) => {}, (d: WaspmoteDevice) => d.sd.put('NEWPROG', Buffer.alloc(MAX_PROGRAM_BYTES + 1))]) {
      const d = new WaspmoteDevice({ programId: 'OTA_APP', version: 4 });
      setup(d);
      d.loadOTA('NEWPROG', 9);
      expect(d.eeprom.currentId()).to.equal('OTA_APP');
      expect(d.checkNewProgram()).to.equal(0);
      expect(d.programVersion()).to.equal(4);
      expect(d.eeprom.lastStableId()).to.equal('OTA_APP');
    }
  });

  it('without the OTA flag, version ≠ backup is restored and reported as 0', () => {
    const d = new WaspmoteDevice({ programId: 'OTA_APP', version: 4 });
    d.eeprom.write(EE.VERSION, 7);
    d.reboot();
    expect(d.checkNewProgram()).to.equal(0);
    expect(d.programVersion()).to.equal(4);
    expect(d.checkNewProgram()).to.equal(2);
  });

  it('GPRS stores its signed version byte as two\'s complement', () => {
    const d = new WaspmoteDevice({ programId: 'OTA_APP', version: 4 });
    d.sd.put('NEWPROG', Buffer.from('x'));
    d.loadOTA('NEWPROG', -56);
    expect(d.programVersion()).to.equal(200);
  });
});

describe('waspmote SD card model', () => {
  it('8.3 upper-case names; invalid names cannot be created', () => {
    expect(sdName('upgrade.txt')).to.equal('UPGRADE.TXT');
    expect(sdName('NEWPROG')).to.equal('NEWPROG');
    expect(sdName('NEWPRO\r')).to.equal(undefined);
    expect(sdName('TOOLONGNAME')).to.equal(undefined);
    expect(sdName('A*B')).to.equal(undefined);
    const sd = new SdCard();
    expect(sd.create('bad name')).to.equal(false);
    expect(sd.create('newprog')).to.equal(true);
    expect(sd.create('NEWPROG')).to.equal(false, 'O_EXCL');
    expect(sd.exists('NewProg')).to.equal(true);
  });

  it('create/open/seek/write faults apply per file; write faults after N bytes', () => {
    const sd = new SdCard({ faults: [{ op: 'write', name: 'NEWPROG', afterBytes: 4 }, { op: 'create', name: 'OTHER' }] });
    expect(sd.create('OTHER')).to.equal(false);
    expect(sd.create('NEWPROG')).to.equal(true);
    const f = sd.open('NEWPROG')!;
    expect(f.seek(0)).to.equal(true);
    expect(f.write(Buffer.from('abcd'))).to.equal(true);
    expect(f.write(Buffer.from('e'))).to.equal(false);
    expect(sd.size('NEWPROG')).to.equal(4);
    const missing = new SdCard({ present: false });
    expect(missing.isPresent()).to.equal(false);
    expect(missing.create('X')).to.equal(false);
    const ejected = new SdCard({ faults: [{ op: 'detect', name: 'NEWPROG' }] });
    expect(ejected.isPresent('UPGRADE.TXT')).to.equal(true);
    expect(ejected.isPresent('NEWPROG')).to.equal(false);
  });
});
