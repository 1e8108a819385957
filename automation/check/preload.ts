/**
 * What the check's child process does before loading anything else: imported first by
 * `child.ts`, so that it runs before `@pulumi/pulumi` is loaded.
 */
import { enableCompileCache } from "../compileCache";
import { deferPulumiModules } from "./lazyPulumi";
import { turnOffPulumiDebugAids } from "./pulumiDebugAids";

enableCompileCache();
deferPulumiModules();
turnOffPulumiDebugAids();
