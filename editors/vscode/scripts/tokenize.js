// Tokenizes files with the extension's TextMate grammar, as VS Code does (vscode-textmate and the
// Oniguruma regex engine), and prints one JSON line per file: its lines' tokens, each [text, scopes].
// Used by the tests: node scripts/tokenize.js FILE...
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const textmate = require("vscode-textmate");

async function main(files) {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () => {
      const file = path.join(__dirname, "..", "syntaxes", "parley.tmLanguage.json");
      return textmate.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const grammar = await registry.loadGrammar("source.parley");
  for (const file of files) {
    let state = textmate.INITIAL;
    const lines = fs.readFileSync(file, "utf8").split("\n").map((line) => {
      const result = grammar.tokenizeLine(line, state);
      state = result.ruleStack;
      return result.tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes]);
    });
    process.stdout.write(JSON.stringify({ file, lines }) + "\n");
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  process.exit(1);
});
