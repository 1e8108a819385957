export { DNS_LABEL, NOT_A_DNS_LABEL, assertDnsLabel, dnsLabelProblem } from "./naming";
export { CONTAINER_PORT, REPLICAS_ANY_ENVIRONMENT, imageReferenceProblem, replicasRange } from "./rules";
export { NamespaceSettings, TeamNamespace, TeamNamespaceArgs, namespaceSettings } from "./teamNamespace";
export {
  ImageReference,
  WebService,
  WebServiceArgs,
  WebServiceSettings,
  containerSecurityContext,
  parseImageReference,
  webServiceSettings,
} from "./webService";
