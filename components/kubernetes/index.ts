export { DNS_LABEL, assertDnsLabel } from "./naming";
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
