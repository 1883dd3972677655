"""The official OpenAI Node SDK, unchanged, against cic-control (tests/sdk/sdk_check.mjs)."""
import os
import shutil
import subprocess
import unittest

import harness
from gateway_fixture import CHAT, EMBED, GatewayEnv

SDK_DIR = os.path.join(harness.SOURCE_DIR, "tests", "sdk")


class OpenAiSdkTest(unittest.TestCase):
    def test_node_sdk_all_endpoints(self):
        self.assertIsNotNone(shutil.which("node"), "node is required (deploy/install-deps.sh installs it)")
        self.assertTrue(os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")),
                        "tests/sdk/node_modules is missing: tests/run-all.sh runs `npm ci` there")
        env = GatewayEnv()
        self.addCleanup(env.stop)
        env.start_node("chat", CHAT, "chat", "--inter-token-ms", "2")
        env.start_node("embed", EMBED, "embedding")
        env.start_gateway()
        result = subprocess.run(["node", "sdk_check.mjs"], cwd=SDK_DIR, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "CIC_BASE_URL": f"http://127.0.0.1:{env.port}/v1",
                                     "CIC_API_KEY": env.api_key, "CIC_CHAT_MODEL": CHAT, "CIC_EMBED_MODEL": EMBED})
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("all checks passed", result.stdout)


if __name__ == "__main__":
    unittest.main()
