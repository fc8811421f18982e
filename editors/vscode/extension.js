// The Parley extension: starts `parley lsp` (configurable) as the language server for .agent files.
// Clicking the plan code lens runs the server's `parley.plan` command; its answer, the plan tree,
// opens in a new editor.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

async function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("parley").get("server.command", ["parley", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient("parley", "Parley", server, {
    documentSelector: [{ language: "parley" }],
    middleware: {
      executeCommand: async (name, commandArgs, next) => {
        const result = await next(name, commandArgs);
        if (name === "parley.plan" && typeof result === "string") {
          const document = await vscode.workspace.openTextDocument({ content: result, language: "plaintext" });
          await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
        }
        return result;
      },
    },
  });
  try {
    await client.start();
  } catch (error) {
    vscode.window.showErrorMessage(
      `Parley: could not start \`${[command, ...args].join(" ")}\` (${error.message}). ` +
      "Install it with pip install 'parley-lang[lsp]', or set parley.server.command.");
  }
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
