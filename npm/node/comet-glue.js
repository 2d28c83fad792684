// Imported by `./comet.js` before `../comet.js`: hands the CometServer glue to `load.js` first.
import * as glue from '../dist/cometa_comet.js';
import { preload } from '../load.js';

preload('comet', glue);
