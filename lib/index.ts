// The public API: the constructs, their props and interfaces, the contract, the manifest writer
// and the offline validator. Prop validators and pod defaults stay internal so they can change
// without a major release.
export * from './contract';
export * from './artifact-store';
export * from './minio-store';
export * from './mlflow-server';
export * from './r-training-job';
export * from './r-server';
export * from './seldon-r-model';
export * from './kserve-r-model';
export * from './payload-logging';
export * from './model-monitor';
export { ModelPodMonitor } from './model-pod-monitor';
export type { MetricsSource, ModelPodMonitorOptions, ModelPodMonitorProps } from './model-pod-monitor';
export { ModelAlertRules } from './model-alert-rules';
export type { ModelAlertRulesOptions, ModelAlertRulesProps } from './model-alert-rules';
export * from './model-dashboard';
export { TRAINING_SCRIPT_MAX_BYTES, TrainingScript } from './training-script';
export type { TrainingScriptSource } from './training-script';
export { Manifest, orderedManifests, writeManifests } from './manifests';
export { DEFAULT_ISTIO_GATEWAY } from './rollout';
export type { AutoscalingProps, CanaryProps, Ingress, NoRolloutProps, PredictorInfo, RolloutProps, ShadowProps, TrafficProps } from './rollout';
export { CRON_MACROS, cronError } from './cron';
export { writeHelmChart } from './helm';
export * from './model-promotion';
export * from './pod-settings';
export { RMLOPS_DEFAULTS_CONTEXT, RmlopsDefaults, withRegistry } from './rmlops-defaults';
export type { ResolvedDefaults, RmlopsDefaultsProps, SecretRef } from './rmlops-defaults';
export { ImportedTrackingServer } from './imported-tracking-server';
export type { TrackingServerAttributes } from './imported-tracking-server';
export { constructWarnings } from './validate';
export { hardenPodSpecs } from './harden';
export type { HardeningReport } from './harden';
export { MIN_NODE } from './capacity';
export type { HelmChartOptions } from './helm';
export { NAMESPACE_NAME_LABEL, POD_SECURITY_LABELS } from './pod-defaults';
export * from './namespace-isolation';
export type { DnsEgress, NetworkEndpoint, NetworkIpBlock } from './network-policy';
export type { ComputeResources, LabelledNamespaceClients, NetworkClient, ResolvedResources } from './pod-defaults';
export type { Problem } from './validate';
export {
  MANIFEST_INDEX, MANIFEST_MARKER, loadManifestDir, loadManifestFile, manifestWarnings, validateDirectory, validateManifests,
} from './manifest-validation';
export type { DirectoryResult, ValidateOptions } from './manifest-validation';
export { appObjects, validateApp, validateAppAtSynth } from './app-validation';
export type { AppObject } from './app-validation';
