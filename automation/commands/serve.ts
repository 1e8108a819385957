/**
 * `paved serve`: the self-service service, configured by the environment (PORT, HOST,
 * PAVED_CONFIG, PAVED_DATA_DIR, DATABASE_URL, PAVED_ENGINE, PAVED_WORKERS, ...), as
 * `npm start` runs it from a checkout. It runs until SIGTERM or SIGINT.
 */
import type { CommandIO } from "./io";

export const usage = `Usage: paved serve

Serves the self-service API and page. Configured by the environment:
  PORT (8080), HOST (127.0.0.1), PAVED_CONFIG (paved.yaml), PAVED_DATA_DIR (.paved),
  DATABASE_URL (PostgreSQL instead of SQLite), PAVED_ENGINE (pulumi|simulate),
  PAVED_WORKERS (2), PAVED_BACKEND_URL, PAVED_USE_PLANS, PAVED_LEASE_MS,
  PAVED_SHUTDOWN_GRACE_MS. Stops on SIGTERM or SIGINT after running jobs finish.
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(usage);
    return 0;
  }
  if (argv.length > 0) {
    io.stderr.write(`paved serve: unexpected argument "${argv[0]}"\n\n${usage}`);
    return 2;
  }
  const { main } = await import("../service/main");
  await main();
  // The service runs until a signal stops it (it exits the process itself).
  return new Promise<number>(() => undefined);
}
