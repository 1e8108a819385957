import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { awsPolicies } from "./aws";
import { kubernetesPolicies } from "./kubernetes";
import { statefulProtected } from "./stateful";

/** Every policy of the Paved pack, in the order they are reported. */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [...awsPolicies, ...kubernetesPolicies, statefulProtected];
