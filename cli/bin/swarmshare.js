#!/usr/bin/env node
// The `swarmshare` command. A committed file (not dist/main.js itself) so that npm links
// node_modules/.bin/swarmshare at install time, before the first build has made dist/.
require('../dist/main.js');
