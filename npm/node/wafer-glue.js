// Imported by `./index.js` before `../index.js`: hands the Wafer glue to `load.js` first.
import * as glue from '../dist/cometa_sdk.js';
import { preload } from '../load.js';

preload('wafer', glue);
