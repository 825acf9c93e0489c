using EventRegistration.Functions.Checkins;
using EventRegistration.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace EventRegistration.Tests.Checkins;

/// <summary>The scanner page's files, served by the app as the host would serve them.</summary>
public sealed class ScannerPageTests
{
    [Theory]
    [InlineData("", "text/html; charset=utf-8", "<script src=\"scanner.js\">")]
    [InlineData("index.html", "text/html; charset=utf-8", "<video id=\"camera\"")]
    [InlineData("scanner.js", "text/javascript; charset=utf-8", "crypto.subtle.verify")]
    [InlineData("sw.js", "text/javascript; charset=utf-8", "caches.open")]
    [InlineData("jsQR.js", "text/javascript; charset=utf-8", "jsQR 1.4.0")]
    [InlineData("scanner.css", "text/css; charset=utf-8", "#result.admit")]
    public async Task Each_file_is_served_with_its_type_and_a_policy_that_allows_only_its_own_origin(string file, string contentType, string content)
    {
        var (status, type, body, headers) = await GetAsync("/api/checkins/scanner/" + file, file);

        Assert.Equal((200, contentType), (status, type));
        Assert.Contains(content, body);
        Assert.Contains("default-src 'self'", headers["Content-Security-Policy"].ToString());
        Assert.Contains("script-src 'self';", headers["Content-Security-Policy"].ToString());
        Assert.Equal("nosniff", headers["X-Content-Type-Options"].ToString());
    }

    [Fact]
    public async Task Unknown_files_are_not_found_and_the_bare_path_redirects_to_the_slash()
    {
        Assert.Equal(404, (await GetAsync("/api/checkins/scanner/../../host.json", "../../host.json")).Status);
        Assert.Equal(404, (await GetAsync("/api/checkins/scanner/secret.txt", "secret.txt")).Status);
        var redirect = await GetAsync("/api/checkins/scanner", null);
        Assert.Equal(301, redirect.Status);
        Assert.Equal("/api/checkins/scanner/", redirect.Headers["Location"].ToString());
    }

    private static async Task<(int Status, string ContentType, string Body, IHeaderDictionary Headers)> GetAsync(string path, string? file)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        var result = new ScannerPageFunction().ScannerPage(context.Request, file);
        await result.ExecuteResultAsync(new ActionContext { HttpContext = context });
        context.Response.Body.Position = 0;
        return (context.Response.StatusCode, context.Response.ContentType ?? "", await new StreamReader(context.Response.Body).ReadToEndAsync(), context.Response.Headers);
    }
}
