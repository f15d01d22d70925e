// Validates the KEDA objects among Kubernetes manifests (a JSON array on stdin) against
// @kubernetes-models/keda's schemas; kubeconform checks the built-in kinds. Prints one
// line per object and exits 1 if any is invalid, 2 if there was none to check.
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";

const kinds = { ScaledObject, TriggerAuthentication };
let input = "";
for await (const chunk of process.stdin) input += chunk;
let checked = 0;
let invalid = 0;
for (const doc of JSON.parse(input)) {
  if (doc?.apiVersion !== "keda.sh/v1alpha1") continue;
  const Model = kinds[doc.kind];
  const name = `${doc.kind}/${doc.metadata?.name}`;
  if (!Model) {
    console.log(`${name}: no schema for this KEDA kind`);
    invalid += 1;
    continue;
  }
  checked += 1;
  try {
    new Model(doc).validate();
    console.log(`${name}: valid`);
  } catch (err) {
    invalid += 1;
    console.log(`${name}: INVALID ${err.message}`);
  }
}
process.exit(invalid ? 1 : checked ? 0 : 2);
