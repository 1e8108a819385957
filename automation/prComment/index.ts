/** The pull-request comment for a Pulumi preview. */
export { GITHUB_COMMENT_LIMIT, OP_ORDER, Omitted, RenderInput, RenderOptions, RenderResult, countOps, markerLine, render } from "./render";
export { formatCount, htmlText, mdCode, mdDetails, mdFence, mdTable, mdText, plural } from "./markdown";
