// Signal hand-on for the launchers (bin/firmdrop.js, bin/client-sim.js). `npx firmdrop serve` runs us as
// npm exec → `sh -c firmdrop …` → node: npm passes SIGTERM/SIGINT to the shell only (@npmcli/run-script's
// signal-manager forwards to its direct child), the shell dies of it and this process would go on serving, orphaned.
// Node cannot ask Linux for a parent-death signal (prctl PR_SET_PDEATHSIG), so the launcher polls its parent pid:
// when the parent is gone (we were re-parented to init or a subreaper), it sends itself SIGTERM, the signal the
// parent was given. A process with a SIGTERM handler (`firmdrop serve`, `client-sim modem --listen`) then stops
// cleanly and frees its port; one without it ends as SIGTERM's default action does.
// Only under npm (npx, npm exec, npm run: npm sets `npm_command`): run directly (`nohup node bin/firmdrop.js serve &`),
// outliving the shell that started it is what the operator asked for.

/** How often the parent pid is checked, ms. */
export const PARENT_POLL_MS = 250;

/**
 * Starts watching the parent process when npm started this one (`env.npm_command` set); the timer is unref'd, so it
 * never keeps the process alive.
 * @returns a function that stops watching
 */
export function passSignalsFromParent(env = process.env) {
  if (!env.npm_command) return () => {};
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
