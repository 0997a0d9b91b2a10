// Load a BPMN file with bpmn-moddle (the model layer of bpmn.io and Camunda Modeler) and save it again, as a
// modeller does when a user opens a model and presses save. Usage: node roundtrip.cjs <in.bpmn> <out.bpmn>
// Prints one JSON line: {"warnings": [...]} (moddle's import warnings: unknown elements, unresolved refs).
// bpmn-moddle is found through NODE_PATH (assets/node_modules, installed by `make assets`).
'use strict';
const fs = require('fs');
const { BpmnModdle } = require('bpmn-moddle');

async function main() {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node roundtrip.cjs <in.bpmn> <out.bpmn>');
    process.exit(2);
  }
  const moddle = new BpmnModdle();
  const { rootElement, warnings } = await moddle.fromXML(fs.readFileSync(input, 'utf8'), 'bpmn:Definitions');
  const { xml } = await moddle.toXML(rootElement, { format: true });
  fs.writeFileSync(output, xml);
  console.log(JSON.stringify({ warnings: warnings.map((w) => w.message) }));
}

main().catch((err) => {
  console.error(String(err && err.stack || err));
  process.exit(1);
});
