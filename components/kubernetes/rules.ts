/**
 * What a WebService's arguments must be, as pure functions: the component checks its
 * arguments with them and the `web-service` offering's schema refines with them, so the
 * door and the component cannot disagree. No Pulumi here.
 */
import { PavedArgumentError } from "../common";
import { Environment, environments, webServiceDefaults } from "../guardrails";

/** A parsed image reference. */
export interface ImageReference {
  repository: string;
  tag?: string;
  digest?: string;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const PINNED = "use a digest (repo@sha256:<64 hex>) or a tag other than latest (repo:1.2.3)";

/** The image reference, or why it is not one pinned to a digest or a tag other than `latest`. */
function parseImage(image: unknown): ImageReference | { problem: string } {
  if (typeof image !== "string" || image.length === 0 || /\s/.test(image)) {
    return { problem: `is not an image reference: ${PINNED}` };
  }
  const at = image.indexOf("@");
  if (at >= 0) {
    const digest = image.slice(at + 1);
    if (!DIGEST.test(digest)) return { problem: `has an invalid digest: ${PINNED}` };
    const named = image.slice(0, at);
    const colon = named.lastIndexOf(":");
    const hasTag = colon > named.lastIndexOf("/");
    return { repository: hasTag ? named.slice(0, colon) : named, tag: hasTag ? named.slice(colon + 1) : undefined, digest };
  }
  const colon = image.lastIndexOf(":");
  const tag = image.slice(colon + 1);
  if (colon <= image.lastIndexOf("/") || tag === "latest" || tag === "") {
    return { problem: `is not pinned: ${PINNED}` };
  }
  return { repository: image.slice(0, colon), tag };
}

/** Why `image` is not pinned (`is not pinned: use a digest ...`), or undefined when it is. */
export function imageReferenceProblem(image: unknown): string | undefined {
  const parsed = parseImage(image);
  return "problem" in parsed ? parsed.problem : undefined;
}

/** Parses `image` and throws unless it is pinned to a digest or to a tag other than `latest`. */
export function parseImageReference(image: unknown): ImageReference {
  const parsed = parseImage(image);
  if ("problem" in parsed) throw new PavedArgumentError("image", `image ${JSON.stringify(image)} ${parsed.problem}`);
  return parsed;
}

/** Ports a container may listen on. */
export const CONTAINER_PORT = { min: 1, max: 65535 } as const;

/** Replicas a web service may run in `environment`: from the environment's minimum (prod 2) to the maximum. */
export function replicasRange(environment: Environment): { min: number; max: number } {
  return { min: environments[environment].minReplicas, max: webServiceDefaults.maxReplicas };
}

/** Replicas allowed in some environment: what the offering's schema checks before it knows the environment. */
export const REPLICAS_ANY_ENVIRONMENT = {
  min: Math.min(...Object.values(environments).map((e) => e.minReplicas)),
  max: webServiceDefaults.maxReplicas,
} as const;
