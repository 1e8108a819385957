// The CrossGuard pack, for `pulumi preview --policy-pack ./policy-pack`. It does nothing
// but construct the pack: constructing it starts the analyzer's gRPC server. Tests and
// in-process evaluation use `./api` instead and never import this file.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("paved", { policies, enforcementLevel: "mandatory" });
