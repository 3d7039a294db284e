/**
 * Object-level rules for the rollout fields of a SeldonDeployment, applied by the shipped
 * validator to every SeldonDeployment (JsonPatch escape hatches and hand-written manifests
 * included). What the Seldon 1.17.1 admission webhook rejects (checkTraffic and the predictor
 * names), and what the API server would reject in the HorizontalPodAutoscaler and the
 * PodDisruptionBudget the operator creates from `hpaSpec` and `pdbSpec` (errors the operator only
 * logs, leaving the model unscaled or unprotected).
 */

type Report = (at: string, message: string) => void;

const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function intOrPercent(v: unknown): boolean {
  return (isInt(v) && v >= 0) || (typeof v === 'string' && /^\d+%$/.test(v));
}

/** Reports the rollout problems of one SeldonDeployment. */
export function seldonRolloutRules(sdep: any, report: Report): void {
  const predictors = list(sdep?.spec?.predictors);
  const seen = new Map<string, number>();
  let shadows = 0;
  let sum = 0;
  predictors.forEach((p, i) => {
    const at = `spec.predictors[${i}]`;
    if (typeof p?.name === 'string') {
      if (seen.has(p.name)) report(`${at}.name`, `${JSON.stringify(p.name)} is also the name of spec.predictors[${seen.get(p.name)}]; the Seldon webhook rejects duplicate predictor names`);
      else seen.set(p.name, i);
    }
    const traffic = p?.traffic ?? 0;
    if (p?.shadow === true) {
      shadows += 1;
      if (shadows > 1) report(`${at}.shadow`, 'a second shadow predictor: the Seldon webhook allows one');
      if (!isInt(traffic) || traffic < 0 || traffic > 100) report(`${at}.traffic`, `${JSON.stringify(traffic)}: a shadow's traffic is from 0 to 100`);
    } else if (isInt(traffic)) {
      sum += traffic;
    }
    componentRules(p, at, report);
  });
  const routed = predictors.filter((p) => p?.shadow !== true).length;
  if (routed > 1 && sum !== 100) {
    report('spec.predictors', `the traffic of the predictors that are not shadows sums to ${sum}; the Seldon webhook requires 100`);
  } else if (routed === 1 && sum > 0 && sum < 100) {
    report('spec.predictors', `the only predictor that is not a shadow has traffic ${sum}; the Seldon webhook requires 100 (or none)`);
  }
}

function componentRules(p: any, at: string, report: Report): void {
  list(p?.componentSpecs).forEach((cs, j) => {
    const cat = `${at}.componentSpecs[${j}]`;
    const hpa = cs?.hpaSpec;
    if (hpa !== undefined && hpa !== null) {
      const min = hpa.minReplicas ?? 1;
      if (!isInt(hpa.maxReplicas) || hpa.maxReplicas < 1) report(`${cat}.hpaSpec.maxReplicas`, `${JSON.stringify(hpa.maxReplicas)}: the HorizontalPodAutoscaler needs at least 1`);
      if (!isInt(min) || min < 1) report(`${cat}.hpaSpec.minReplicas`, `${JSON.stringify(min)}: the HorizontalPodAutoscaler needs at least 1`);
      else if (isInt(hpa.maxReplicas) && min > hpa.maxReplicas) report(`${cat}.hpaSpec.minReplicas`, `${min} is above maxReplicas (${hpa.maxReplicas}); the API server rejects the HorizontalPodAutoscaler`);
      // The operator gives an hpaSpec's Deployment no replica count: these would be ignored.
      if (cs.replicas !== undefined) report(`${cat}.replicas`, 'is ignored by the Seldon operator with an hpaSpec (the HorizontalPodAutoscaler owns the count)');
      else if (p.replicas !== undefined) report(`${at}.replicas`, `is ignored by the Seldon operator for componentSpecs[${j}], which has an hpaSpec (the HorizontalPodAutoscaler owns the count)`);
      const cpuUtilization = list(hpa.metricsv2).some((m) => m?.type === 'Resource' && m?.resource?.name === 'cpu' && m?.resource?.target?.type === 'Utilization');
      if (cpuUtilization) {
        list(cs?.spec?.containers).forEach((c, k) => {
          if (c?.resources?.requests?.cpu === undefined) {
            report(`${cat}.spec.containers[${k}].resources.requests.cpu`, 'missing: the hpaSpec targets CPU utilization, a percentage of every container\'s CPU request');
          }
        });
      }
    }
    const pdb = cs?.pdbSpec;
    if (pdb !== undefined && pdb !== null) {
      if (pdb.minAvailable !== undefined && pdb.maxUnavailable !== undefined) report(`${cat}.pdbSpec`, 'minAvailable and maxUnavailable are both set; a PodDisruptionBudget takes one');
      for (const k of ['minAvailable', 'maxUnavailable']) {
        if (pdb[k] !== undefined && !intOrPercent(pdb[k])) report(`${cat}.pdbSpec.${k}`, `${JSON.stringify(pdb[k])} is neither a non-negative count nor a percentage such as "50%"`);
      }
    }
  });
}
