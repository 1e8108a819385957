/** Policies on stateful resources, whatever their provider. */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { environments, statefulResourceTypes } from "../../components/guardrails";
import { environmentConfigProperty, environmentNote, environmentOf } from "./shared";

// The types come from config (statefulTypes), so this policy declares no fixed type list.
export const statefulProtected: ResourceValidationPolicy = {
  name: "stateful-resources-protected",
  description: "Resources that hold data (the guardrails' stateful types) must carry Pulumi `protect` in prod.",
  configSchema: {
    properties: {
      ...environmentConfigProperty,
      statefulTypes: { type: "array", items: { type: "string" }, description: "Resource types that hold data.", default: [...statefulResourceTypes] },
    },
  },
  validateResource: (args, report) => {
    const config = args.getConfig<{ environment?: string; statefulTypes: string[] }>();
    if (!config.statefulTypes.includes(args.type)) return;
    const env = environmentOf(args.props, config);
    if (environments[env.environment].protect && args.opts.protect !== true) {
      report(`${args.type} holds data and is not protected${environmentNote(env)}: set the protect resource option`);
    }
  },
};
