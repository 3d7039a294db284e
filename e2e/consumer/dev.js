'use strict';
function devScenarios() {}
module.exports = { devScenarios };
