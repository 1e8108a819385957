// The root Pulumi program (see Pulumi.yaml): reads the environment spec from the stack's
// config (`paved:spec`) and deploys it. `pulumi preview -s payments-dev` runs this.
import * as pulumi from "@pulumi/pulumi";
import { deploy } from "./deploy";
import { EnvironmentSpec } from "./spec";

const config = new pulumi.Config("paved");
const spec = config.requireObject<EnvironmentSpec>("spec");

export const resources = deploy(spec);
