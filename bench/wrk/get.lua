-- GET the URL given to wrk; reports with report.lua.
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local report = require("report")
done = report.done
