-- wrk script for benches/api-load.sh: each request is the next search of a mix, as
-- the leads explorer sends them (20 hits, total counted; facets off unless asked).
--   lookup: selective searches (an email, a company, a domain, a LinkedIn slug, an id)
--   browse: broad ones (a title, a city, a word, a phrase: 14-70 % of 1 M leads match)
local mixes = {
  lookup = {
    "email:riley.kim0@company0.com", "company:company123456", "domain:company4242.com",
    "linkedin:jordan-davis-1", "id:777777", "email:jordan.davis1@company1.com",
  },
  browse = { "title:ppc", "city:boston", "director", "\"ppc manager\"", "marketing chicago" },
}
local queries = {}
local i = 0

function init(args)
  local mix = mixes[args[1] or "lookup"] or mixes.lookup
  local facets = args[2] == "facets" and "true" or "false"
  for _, q in ipairs(mix) do
    local encoded = q:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end)
    table.insert(queries, "/api/leads?q=" .. encoded .. "&limit=20&facets=" .. facets)
  end
end

function request()
  i = i + 1
  return wrk.format("GET", queries[(i % #queries) + 1])
end

function response(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status .. ": " .. body)
    wrk.thread:stop()
  end
end
