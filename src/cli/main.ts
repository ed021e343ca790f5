/**
 * The whole `cloister` command line as an ES module, every command group included: what `cli.js`
 * runs for the commands that launch no enclave (and what tests and scripts run with tsx).
 */
import { commandGroups } from './command-groups.ts';
import { main } from './program.ts';

await main(process.argv, commandGroups);
