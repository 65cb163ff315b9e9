// Checks CronSchedule against cron_table.tsv, the answers of an independent implementation
// (croniter; see make_cron_table.py), including daylight-saving changes in several zones.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "schedule/cron_schedule.h"
#include "utc_text.h"

namespace faust {
namespace {

struct TableRow {
  int line = 0;
  std::vector<std::string> columns;  // expression, zone, start, run 1..3, note
};

std::vector<TableRow> read_table(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::vector<TableRow> rows;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (text.empty() || text.front() == '#') continue;
    TableRow row{line, {}};
    std::istringstream fields(text);
    for (std::string field; std::getline(fields, field, '\t');) row.columns.push_back(field);
    rows.push_back(std::move(row));
  }
  return rows;
}

TEST(CronTableTest, NextRunsAgreeWithTheTable) {
  const std::vector<TableRow> rows = read_table(FAUST_CRON_TABLE);
  ASSERT_GE(rows.size(), 60u);
  int deliberate = 0;
  for (const TableRow& row : rows) {
    ASSERT_GE(row.columns.size(), 6u) << "cron_table.tsv:" << row.line;
    const std::string where = "cron_table.tsv:" + std::to_string(row.line) + ": '" + row.columns[0] + "' in " +
                              row.columns[1] + " after " + row.columns[2];
    auto cron = CronSchedule::make(row.columns[0], row.columns[1]);
    ASSERT_TRUE(cron.ok()) << where << ": " << cron.error().message;
    auto at = testing::utc(row.columns[2]);
    for (int i = 0; i < 3; ++i) {
      at = cron->next_after(at);
      EXPECT_EQ(testing::utc_text(at), row.columns[3 + i]) << where << ", run " << i + 1;
    }
    if (row.columns.size() > 6 && row.columns[6].starts_with("deliberate")) ++deliberate;
  }
  // The rows where our daylight-saving rule departs from croniter's are there and marked.
  EXPECT_GT(deliberate, 0);
}

}  // namespace
}  // namespace faust
