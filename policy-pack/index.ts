// The CrossGuard pack, for `pulumi preview --policy-pack <dir>`. It does nothing but
// construct the pack: constructing it starts the analyzer's gRPC server. Tests and
// in-process evaluation use `./api` instead and never import this file.
//
// The CLI runs it compiled: `dist/policy-pack/index.js` (the npm package's pack directory),
// or through `policy-pack/pack.js` in a clone. See README "The policy pack".
import { PolicyPack } from "@pulumi/policy";
import { cacheDeserializedProperties } from "./analyzerCache";
import { PACK_ENFORCEMENT_LEVEL, PACK_NAME } from "./manifest";
import { policies } from "./policies";

// Each resource's properties deserialized once per Analyze call, not once per policy.
cacheDeserializedProperties();
new PolicyPack(PACK_NAME, { policies, enforcementLevel: PACK_ENFORCEMENT_LEVEL });
