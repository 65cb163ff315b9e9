// Empty: faust_test_pch (tests/CMakeLists.txt) exists for the precompiled headers the test
// executables reuse; GTest::gtest_main gives it its main.
