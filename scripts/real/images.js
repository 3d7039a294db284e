'use strict';
// The images scripts/real/install-images.sh builds, by the exact refs that dist/, dist-kserve/ and
// Seldon's operator name, so that manifests apply unmodified and IfNotPresent never pulls. Every
// tag is derived from its pin (versions.json; the R package's version for the R images): a bump
// there moves the image with it, and test/images.test.ts fails when a default in lib/ drifts.
//   node scripts/real/images.js          prints "name ref" lines
//   node scripts/real/images.js NAME     prints the ref of one image
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..', '..');

function imageRefs(root = ROOT) {
  const v = JSON.parse(fs.readFileSync(path.join(root, 'versions.json'), 'utf8'));
  const description = fs.readFileSync(path.join(root, 'r', 'DESCRIPTION'), 'utf8');
  const rmlops = /^Version:\s*(\S+)\s*$/m.exec(description);
  if (!rmlops) throw new Error('r/DESCRIPTION has no Version: line: the R images are tagged with it');
  return {
    'r-serve': `ghcr.io/rmlops/r-serve:${rmlops[1]}`,
    'r-train': `ghcr.io/rmlops/r-train:${rmlops[1]}`,
    'payload-sink': `ghcr.io/rmlops/payload-sink:${v.payloadSink.version}`,
    'seldon-executor': `docker.io/seldonio/seldon-core-executor:${v.seldonCore}`,
    'seldon-operator': `docker.io/seldonio/seldon-core-operator:${v.seldonCore}`,
    'kserve-controller': `docker.io/kserve/kserve-controller:v${v.kserve}`,
    minio: `quay.io/minio/minio:${v.minio.release}`,
    mc: `quay.io/minio/mc:${v.mc.release}`,
    mlflow: `ghcr.io/mlflow/mlflow:v${v.mlflow}-full`,
  };
}

module.exports = { imageRefs };

if (require.main === module) {
  const refs = imageRefs();
  const name = process.argv[2];
  if (name === undefined) {
    for (const [n, ref] of Object.entries(refs)) console.log(`${n} ${ref}`);
  } else if (refs[name]) {
    console.log(refs[name]);
  } else {
    console.error(`no image named ${name}: known are ${Object.keys(refs).join(', ')}`);
    process.exit(2);
  }
}
