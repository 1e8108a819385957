import { describe, expect, it } from "vitest";
import { finalSnapshotIdentifier } from "../../../components/aws";

describe("finalSnapshotIdentifier", () => {
  it.each([
    ["orders-db", "orders-db-final"],
    ["orders_db", "orders-db-final"],
    ["Orders__DB.", "orders-db-final"],
    ["2fa-cache", "snap-2fa-cache-final"],
    ["_", "snap-final"],
  ])("turns %s into %s", (name, expected) => {
    expect(finalSnapshotIdentifier(name)).toBe(expected);
  });

  it("with an owner: the team's own, and look-alike triples never collide", () => {
    expect(finalSnapshotIdentifier("orders-db", { team: "payments", environment: "prod" })).toBe("payments-prod-orders-db-51371d6f-final");
    const a = finalSnapshotIdentifier("ledger", { team: "payments-dev", environment: "prod" });
    const b = finalSnapshotIdentifier("prod-ledger", { team: "payments", environment: "dev" });
    expect(a).toMatch(/^payments-dev-prod-ledger-[0-9a-f]{8}-final$/);
    expect(b).toMatch(/^payments-dev-prod-ledger-[0-9a-f]{8}-final$/);
    expect(a).not.toBe(b);
  });

  it("stays within the length RDS and ElastiCache accept, without a doubled hyphen", () => {
    const id = finalSnapshotIdentifier(`a${"-b".repeat(150)}`);
    expect(id.length).toBeLessThanOrEqual(206);
    expect(id).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
    expect(id.endsWith("-final")).toBe(true);
  });
});
