#include "web/router.h"

#include <gtest/gtest.h>

namespace faust {
namespace {

HttpResponse answer(std::string body) { return HttpResponse{200, "text/plain", std::move(body)}; }

TEST(RouterTest, NormalizeStripsQueryFragmentAndTrailingSlashes) {
  EXPECT_EQ(Router::normalize("/assignment/"), "/assignment");
  EXPECT_EQ(Router::normalize("/assignment//"), "/assignment");
  EXPECT_EQ(Router::normalize("/assignment?verbose=1"), "/assignment");
  EXPECT_EQ(Router::normalize("/assignment/?verbose=1"), "/assignment");
  EXPECT_EQ(Router::normalize("/assignment#top"), "/assignment");
  EXPECT_EQ(Router::normalize("/"), "/");
  EXPECT_EQ(Router::normalize("/?x"), "/");
}

TEST(RouterTest, FindsHandlerWhateverTheTrailingSlash) {
  Router router;
  router.add("/assignment/", [] { return answer("assignment"); });
  router.add("/", [] { return answer("root"); });

  ASSERT_NE(router.find("/assignment"), nullptr);
  EXPECT_EQ((*router.find("/assignment"))().body, "assignment");
  ASSERT_NE(router.find("/assignment/?x=1"), nullptr);
  EXPECT_EQ((*router.find("/assignment/?x=1"))().body, "assignment");
  ASSERT_NE(router.find("/"), nullptr);
  EXPECT_EQ((*router.find("/"))().body, "root");
  EXPECT_EQ(router.find("/assignments"), nullptr);
  EXPECT_EQ(router.find("/assignment/x"), nullptr);
}

TEST(RouterTest, LaterRegistrationReplacesEarlier) {
  Router router;
  router.add("/livez", [] { return answer("old"); });
  router.add("/livez", [] { return answer("new"); });
  EXPECT_EQ((*router.find("/livez"))().body, "new");
}

}  // namespace
}  // namespace faust
