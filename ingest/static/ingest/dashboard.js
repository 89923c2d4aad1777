/* Ingest dashboard: live job updates, the upload form and the confirmation
 * dialogs, as ES modules next to htmx; no build step. */

import * as dialogs from "./dialogs.js";
import * as live from "./live.js";
import * as upload from "./upload.js";

dialogs.start();
upload.start();
live.start();
