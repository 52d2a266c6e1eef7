"""PlatformIO test runner for edgeopt projects: Unity-format output without Unity
(which cannot be installed offline); the tests use edgeopt's eo_test.h."""
from platformio.public import UnityTestRunner


class CustomTestRunner(UnityTestRunner):
    EXTRA_LIB_DEPS = None

    def configure_build_env(self, env):
        return env  # no Unity configuration to generate
